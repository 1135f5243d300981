import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { freePort } from '../helpers/app.js';
import { type DocBlock, type DocCommand, documentedFiles, extractAll } from './extract.js';

// The docs-commands check: every shell command of README.md, docs/*.md and examples/**/README.md
// (fenced sh, bash, shell and console blocks) runs against a throwaway server, one per file: the
// embedded mode in a temp DATA_DIR, started as `npm start` starts it, with the demo banner. Each
// block runs as one bash script (`set -e -o pipefail`, so variables carry from line to line as a
// reader's shell would), with `curl` failing on an HTTP error. A command that fails fails the test
// with its file and line. The embedded mode on purpose, whatever DATABASE_URL says: the docs'
// first-hour commands are written for it; the backends are tested elsewhere.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Commands that cannot run here, each with the reason. Matched against the command's text (its
 * continuation lines joined). Nothing else is skipped.
 */
const SKIP: [RegExp, string][] = [
  [/^docker /, 'needs a Docker daemon; the image is built from the Dockerfile by CI'],
  [/^git clone /, 'fetches the repository: this is the checkout'],
  [/^npm ci\b/, 'installs packages: this checkout is installed'],
  [/(^|\s)npm test$/, 'the whole suite: CI runs it as its own step'],
  [
    /^npm run (mutate|bench|soak|chaos)\b/,
    'runs for many minutes (docs/mutation-testing.md, bench/README.md)',
  ],
  [/(^|\s)npm run model\b/, 'a long model run (minutes); test/model/ runs the bounded one in the suite'],
  [/^npm run lint\b/, 'CI runs it as its own step'],
  [/^npm run test:docs\b/, 'this check itself'],
  [/^npm run format\b/, 'rewrites the checkout'],
  [
    /(^|\s)npm (start|run dev)$/,
    'a server that runs until stopped: the throwaway server here is `npm start`',
  ],
  [/^export DATABASE_URL=/, 'points the shell at another deployment (production or the test Postgres)'],
  [/^(pg_dump|pg_restore|psql) /, 'needs a Postgres database; the embedded mode has none'],
  [
    /^for p in 7001|^redis-server |^done$|^redis-cli --cluster|^REDIS_CLUSTER_NODES=/,
    'starts a Redis Cluster on fixed ports',
  ],
  [
    /examples\/(browser-app\/serve\.mjs|resource-server\/server\.ts|mcp-server\/server\.ts)/,
    'a server that runs until stopped: test/browser/browser_app.test.ts, test/examples/ and test/mcp/ run it',
  ],
];

/** Commands the docs say are refused here: they must fail, with the doc's reason. */
const EXPECTED_TO_FAIL: [RegExp, string][] = [
  [/^npx --no -- tessera keys rotate$/, 'docs/keys.md: refused while the next key is too fresh'],
  [/^curl -X POST \S+\/admin\/keys\/rotate .*"force": false/, 'docs/keys.md: 409 while too fresh'],
];

/** Placeholders of the docs and what stands for them here (values from the throwaway server). */
const PLACEHOLDERS: [RegExp, string][] = [
  // `CID=...` and the like: "from the start-up banner"; the banner's values are in the environment.
  [/\b([A-Z_]+)=(\.\.\.|…)(?=;|\s|$)/g, '$1="$$$1"'],
  [/<kid>/g, '"$KID"'],
  [/<Notes API client_id>/g, '"$API_ID"'],
  [/<its secret>/g, '"$API_SECRET"'],
  [/<its client_id>|\bc_…/g, '"$CID"'],
  [/https?:\/\/localhost:8080|https:\/\/auth\.example\.com/g, '$TESSERA_URL'],
  [/\blocalhost:8080\b/g, '$TESSERA_HOST'],
];

const PRELUDE = [
  'set -e -o pipefail',
  // An HTTP error is a failed command, as a reader would see it.
  'curl() { command curl --fail-with-body --show-error "$@"; }',
  // `tessera` on PATH, as in the image (docker exec) or after a global install.
  'tessera() { node "$ROOT/bin/tessera.js" "$@"; }',
  // npm has an unrelated package named `tessera`: a doc must never let npx fetch it.
  'npx() { case "$*" in "--no -- tessera"*|tsx*) command npx "$@" ;; *) echo "npx $*: write npx --no -- tessera (npm has an unrelated package named tessera)" >&2; return 127 ;; esac; }',
  'expect_failure() { if "$@"; then echo "succeeded, but the doc says it is refused" >&2; return 1; fi; }',
  'trap \'echo "@@failed-at $LINENO" >&2\' ERR',
];

interface Server {
  child: ChildProcess;
  url: string;
  port: number;
  dataDir: string;
  keysDir: string;
  output: () => string;
}

/**
 * Runs a command to its end without blocking this process (the server's output pipes are read
 * here: a synchronous wait would fill them and stall the server).
 */
function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 180_000,
): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    // The whole process group: a documented command may start children of its own.
    const timer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), timeoutMs);
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** `npm start` in a temp folder: the embedded mode, a fresh DATA_DIR, the demo banner. */
async function startServer(t: ExecutionContext): Promise<Server> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-docs-'));
  const port = await freePort();
  const dataDir = path.join(dir, 'data');
  const keysDir = path.join(dir, 'keys');
  const child = spawn(process.execPath, ['bin/tessera-server.cjs'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dir,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      KEYS_DIR: keysDir,
      LOG_LEVEL: 'warn',
      ISSUER: `http://127.0.0.1:${port}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (!(await fetch(`${url}/readyz`).catch(() => undefined))?.ok || !output.includes('demo API')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`the server did not start: ${output}`);
    await sleep(200);
  }
  return { child, url, port, dataDir, keysDir, output: () => output };
}

const banner = (output: string, label: string, nth: number) =>
  [...output.matchAll(new RegExp(`^\\s+${label}:\\s+(\\S+)$`, 'gm'))][nth]?.[1] ?? '';

async function form(url: string, body: Record<string, string>, user: string, secret: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(body),
  });
  return (await res.json()) as Record<string, string>;
}

/** The values the docs' placeholders stand for, from this server. */
async function environment(s: Server): Promise<Record<string, string>> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ROOT,
    DATA_DIR: s.dataDir,
    KEYS_DIR: s.keysDir,
    TESSERA_URL: s.url,
    TESSERA_HOST: `127.0.0.1:${s.port}`,
    CID: banner(s.output(), 'client_id', 0),
    SECRET: banner(s.output(), 'client_secret', 0),
    PASS: banner(s.output(), 'password', 0),
    API_ID: banner(s.output(), 'client_id', 1),
    API_SECRET: banner(s.output(), 'client_secret', 1),
  };
  // An admin client, made the way docs/admin.md says (the CLI reaches the running server).
  const made = await run(
    'npx',
    [
      '--no',
      '--',
      'tessera',
      'clients',
      'create',
      '--name',
      'docs admin',
      '--grants',
      'client_credentials',
      '--admin',
      '--json',
    ],
    env,
  );
  if (made.status !== 0) throw new Error(`admin client: ${made.stderr}`);
  const admin = JSON.parse(made.stdout) as { client_id: string; client_secret: string };
  const token = (
    await form(
      `${s.url}/token`,
      { grant_type: 'client_credentials', scope: 'admin' },
      admin.client_id,
      admin.client_secret,
    )
  ).access_token as string;
  const users = (await (
    await fetch(`${s.url}/admin/users`, { headers: { authorization: `Bearer ${token}` } })
  ).json()) as {
    users: { id: string }[];
  };
  const jwks = (await (await fetch(`${s.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
  return {
    ...env,
    ADMIN_ID: admin.client_id,
    ADMIN_SECRET: admin.client_secret,
    TOKEN: token,
    ADMIN_TOKEN: token,
    CLIENT_ID: env.API_ID,
    USER_ID: users.users[0]?.id ?? '',
    KID: jwks.keys[0]?.kid ?? '',
  };
}

/** The command without its trailing `# comment`, as the rules match it. */
const bare = (c: DocCommand) => c.text.replace(/\s+#[^'"]*$/, '').trim();
const skipReason = (c: DocCommand) => SKIP.find(([re]) => re.test(bare(c)))?.[1];
const expectedFailure = (c: DocCommand) => EXPECTED_TO_FAIL.find(([re]) => re.test(bare(c)))?.[1];

/** The block as a script whose line N is the doc's line `block.line + N - PRELUDE.length`. */
function script(block: DocBlock): string {
  const last = block.commands.at(-1) as DocCommand;
  const lines: string[] = Array.from({ length: last.line + last.lines.length - block.line }, () => '');
  for (const c of block.commands) {
    const reason = skipReason(c);
    c.lines.forEach((raw, i) => {
      let line = raw;
      if (reason) line = i === 0 ? `: skipped, ${JSON.stringify(reason)}` : '';
      else {
        for (const [re, to] of PLACEHOLDERS) line = line.replace(re, to);
        if (i === 0 && expectedFailure(c)) line = `expect_failure ${line}`;
      }
      lines[c.line - block.line - 1 + i] = line;
    });
  }
  return [...PRELUDE, ...lines].join('\n');
}

function commandAt(block: DocBlock, line: number): DocCommand | undefined {
  return block.commands.filter((c) => c.line <= line).at(-1);
}

const blocks = extractAll(ROOT);

test('the extractor finds the shell blocks of every documented file', (t) => {
  const files = new Set(blocks.map((b) => b.file));
  t.true(blocks.flatMap((b) => b.commands).length > 50);
  for (const f of ['README.md', 'docs/cli.md', 'docs/keys.md', 'examples/README.md']) t.true(files.has(f), f);
  t.true(documentedFiles(ROOT).length > 15);
});

test('no documented npx command can resolve to the unrelated npm package "tessera"', (t) => {
  const bad = blocks.flatMap((b) =>
    b.commands
      .filter(
        (c) =>
          /(^|[\s;|&(])npx\s+(?!--no -- )(\S+\s+)*?tessera\b/.test(c.text) &&
          !/npx --no -- tessera/.test(c.text),
      )
      .map((c) => `${b.file}:${c.line}: ${c.text}`),
  );
  t.deepEqual(bad, []);
});

for (const file of [...new Set(blocks.map((b) => b.file))]) {
  const own = blocks.filter((b) => b.file === file);
  if (own.every((b) => b.commands.every(skipReason))) continue;
  test.serial(`${file}: every documented command runs`, async (t) => {
    // A server start and a few CLI runs: about 10-30 s on an idle machine, more on a loaded one.
    t.timeout(600_000);
    const s = await startServer(t);
    const env = await environment(s);
    const failures: string[] = [];
    for (const block of own) {
      if (block.commands.every(skipReason)) continue;
      const r = await run('bash', ['-c', script(block)], env);
      if (r.status === 0) continue;
      const at = /@@failed-at (\d+)/.exec(r.stderr);
      const line = at ? block.line + Number(at[1]) - PRELUDE.length : block.line;
      const command = commandAt(block, line);
      const said =
        `${r.stdout.slice(-400)}\n${r.stderr.replace(/@@failed-at \d+\n?/, '').slice(-600)}`.trim();
      failures.push(
        `${file}:${command?.line ?? line}: ${command?.text ?? '(block)'}\n    exit ${r.status ?? r.signal}: ${said}`,
      );
    }
    t.deepEqual(failures, [], failures.join('\n\n'));
  });
}
