import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { sharedRedisEnv, TEST_KEK } from './helpers/app.js';
import { fileDatabase, mode } from './helpers/database.js';

/** `WORKERS=n`: node:cluster in production modes, one process in embedded mode (docs: README, Scaling). */

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Child processes running Tessera (tsx also starts an esbuild helper, which is not a worker). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('src/main.ts')) out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function start(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const healthy = (url: string) => async () => {
  try {
    return (await fetch(`${url}/healthz`)).ok;
  } catch {
    return false;
  }
};

const production = async () => ({
  DATABASE_URL: (await fileDatabase()).url as string,
  KEY_ENCRYPTION_KEY: TEST_KEK,
  LOG_LEVEL: 'info',
  ...sharedRedisEnv(),
});

(mode.postgres ? test : test.skip)(
  'WORKERS=2: two workers share the port, a dead worker is replaced, SIGTERM stops them all',
  async (t) => {
    const s = await start({ ...(await production()), WORKERS: '2' });
    t.teardown(() => s.child.kill('SIGKILL'));
    const primary = s.child.pid as number;
    // Both workers must have listened: one that dies before that counts as a failed start.
    const listened = () => s.output().split('tessera listening').length - 1;
    await until('two workers listening', () => childrenOf(primary).length === 2 && listened() >= 2);
    const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${s.url}/healthz`)));
    t.true(answers.every((r) => r.ok));

    // /metrics counts every worker's requests, whichever worker answers the scrape (docs/monitoring.md).
    const healthzCount = async () => {
      const text = await (await fetch(`${s.url}/metrics`)).text();
      const m = /^tessera_http_requests_total\{route="\/healthz",method="GET",status="200"\} (\d+)$/m.exec(
        text,
      );
      t.regex(text, /^tessera_database_pool_connections_in_use \d+$/m);
      t.regex(text, /^tessera_database_pool_waiting \d+$/m);
      t.regex(text, /^tessera_database_up 1$/m, 'an up gauge is not summed over workers');
      return Number(m?.[1]);
    };
    for (let scrape = 0; scrape < 4; scrape++) t.true((await healthzCount()) >= 20, `scrape ${scrape}`);

    const [victim] = childrenOf(primary);
    process.kill(victim as number, 'SIGKILL');
    await until('a replacement worker', () => {
      const now = childrenOf(primary);
      return now.length === 2 && !now.includes(victim as number);
    });
    await until('the replacement listening', () => listened() >= 3);
    t.true((await fetch(`${s.url}/healthz`)).ok);

    const workers = childrenOf(primary);
    s.child.kill('SIGTERM');
    t.is(await s.exited, 0, s.output());
    // Every worker was stopped by the primary, not orphaned.
    await until('every worker gone', () => workers.every((pid) => !existsSync(`/proc/${pid}`)), 20_000);
    t.pass();
  },
);

(mode.postgres ? test : test.skip)(
  'a pool layout Postgres cannot serve is refused at start with one line',
  async (t) => {
    const s = await start({ ...(await production()), WORKERS: '64', DATABASE_POOL_MAX: '1000' });
    t.teardown(() => s.child.kill('SIGKILL'));
    t.is(await s.exited, 1);
    const lines = s.output().trim().split('\n');
    t.is(lines.length, 1, s.output());
    t.regex(lines[0] as string, /WORKERS × DATABASE_POOL_MAX = 64 × 1000 = 64000 connections/);
    // Without Redis every process also holds its LISTEN connection (docs/scaling.md).
    if (!process.env.REDIS_URL) t.regex(lines[0] as string, /plus 64 for LISTEN \(64064 in all\)/);
  },
);

(mode.postgres ? test : test.skip)(
  'WORKERS=2: a worker that does not stop by its deadline is killed and the primary exits 1',
  async (t) => {
    const s = await start({
      ...(await production()),
      WORKERS: '2',
      SHUTDOWN_DELAY: '0',
      SHUTDOWN_TIMEOUT: '1',
    });
    t.teardown(() => s.child.kill('SIGKILL'));
    const primary = s.child.pid as number;
    const listened = () => s.output().split('tessera listening').length - 1;
    await until('two workers listening', () => childrenOf(primary).length === 2 && listened() >= 2);
    const [stuck, other] = childrenOf(primary) as [number, number];
    // A stopped process cannot act on SIGTERM: it stands for a worker hung past its deadline.
    process.kill(stuck, 'SIGSTOP');
    t.teardown(() => {
      if (existsSync(`/proc/${stuck}`)) process.kill(stuck, 'SIGKILL');
    });
    s.child.kill('SIGTERM');
    t.is(await s.exited, 1, s.output());
    t.regex(s.output(), /past their shutdown deadline: killed/);
    await until(
      'every worker gone',
      () => [stuck, other].every((pid) => !existsSync(`/proc/${pid}`)),
      20_000,
    );
  },
);

test('embedded mode runs one process and says WORKERS is ignored', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-workers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = await start({
    DATA_DIR: path.join(dir, 'data'),
    KEYS_DIR: path.join(dir, 'keys'),
    WORKERS: '2',
    LOG_LEVEL: 'info',
  });
  t.teardown(() => s.child.kill('SIGKILL'));
  await until('the server', healthy(s.url));
  t.regex(s.output(), /WORKERS is ignored: the embedded mode runs one process/);
  t.deepEqual(childrenOf(s.child.pid as number), []);
  s.child.kill('SIGTERM');
  t.is(await s.exited, 0);
});
