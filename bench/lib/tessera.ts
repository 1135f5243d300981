// Tessera as the bench runs it: production mode (Postgres + Redis), the compiled build started the
// way `npm start` starts it, seeded only through its own CLI. Each instance gets a fresh database
// and Redis key prefix, dropped when the bench ends.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';

const run = promisify(execFile);

/**
 * libuv's thread pool as the launcher sizes it (bin/tessera-server.cjs: cores + 1, for `npm start`
 * and the image). The bench starts dist/src/main.js itself, which would keep Node's pool of 4 and
 * with it a different hashing concurrency than production on more than three cores.
 */
export const TESSERA_THREAD_POOL_SIZE = String(availableParallelism() + 1);

export interface TesseraOptions {
  /** Shown in the report, e.g. `tessera` or `tessera@main`. */
  label: string;
  /** Root of a built checkout (has dist/ and bin/tessera.js). */
  root: string;
  /** A database URL on the server that gets the bench database (its path is replaced). */
  postgresUrl: string;
  redisUrl: string;
  workers: number;
  /** Write a V8 CPU profile of every server process into this folder at exit. */
  cpuProfileDir?: string | undefined;
  /** Extra environment (e.g. pool sizes). */
  env?: Record<string, string>;
}

export interface Seeded {
  cc: { id: string; secret: string };
  rs: { id: string; secret: string };
  app: { id: string; secret: string };
  /** Users the password scenario logs in as, one per connection so no two logins of one user overlap. */
  passwordUsers: string[];
  /** Users whose sessions feed the refresh scenario. */
  refreshUsers: string[];
  password: string;
}

export interface TesseraInstance {
  label: string;
  url: string;
  pid: number;
  databaseUrl: string;
  seeded: Seeded;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The package's own build (compile, then copy the page templates the server reads at start). */
export async function build(root: string): Promise<void> {
  await run('npm', ['run', 'build'], { cwd: root });
}

async function createDatabase(postgresUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tessera_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: postgresUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function dropRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
}

/** Runs `tessera <args>` with `--json`, feeding `stdin`, and returns its parsed output. */
async function cli(root: string, env: NodeJS.ProcessEnv, args: string[], stdin?: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/tessera.js'), ...args, '--json'], {
      cwd: root,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`tessera ${args.join(' ')} failed: ${err.trim()}`));
      else resolve(out.trim() ? JSON.parse(out) : {});
    });
    child.stdin.end(stdin ?? '');
  });
}

async function pool<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

async function waitReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`tessera exited at start:\n${output()}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`tessera did not become ready:\n${output()}`);
}

export interface SeedCounts {
  /** Users for the password scenario: one per connection. */
  passwordUsers: number;
  /** Refresh sessions the bench will open; users get five each (MAX_SESSIONS_PER_USER's default). */
  refreshSessions: number;
}

export async function startTessera(o: TesseraOptions, counts: SeedCounts): Promise<TesseraInstance> {
  const database = await createDatabase(o.postgresUrl);
  const prefix = `tessera-bench-${randomBytes(4).toString('hex')}:`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    // As the image and the systemd unit run it (docs/configuration.md): argon2id's 19 MiB
    // blocks go back to the system after each hash instead of staying in each pool thread's arena.
    MALLOC_MMAP_THRESHOLD_: '1048576',
    DATABASE_URL: database.url,
    REDIS_URL: o.redisUrl,
    REDIS_KEY_PREFIX: prefix,
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    HOST: '127.0.0.1',
    PORT: String(port),
    ISSUER: url,
    WORKERS: String(o.workers),
    UV_THREADPOOL_SIZE: TESSERA_THREAD_POOL_SIZE,
    // The per-client budget and login throttles protect production; here they would turn the
    // load into 429s. Everything else stays at its default.
    RATE_LIMIT_CLIENT_PER_MINUTE: '100000000',
    RATE_LIMIT_LOGIN_FAILURES: '1000000',
    RATE_LIMIT_IP_FAILURES_PER_HOUR: '10000000',
    ...o.env,
  };
  const cliEnv = { ...env, LOG_LEVEL: 'warn' };
  await cli(o.root, cliEnv, ['migrate']);
  const create = async (name: string, extra: string[]) => {
    const c = (await cli(o.root, cliEnv, ['clients', 'create', '--name', name, ...extra])) as {
      client_id: string;
      client_secret: string;
    };
    return { id: c.client_id, secret: c.client_secret };
  };
  const cc = await create('bench-cc', ['--grants', 'client_credentials', '--scopes', 'read']);
  const rs = await create('bench-rs', ['--grants', 'client_credentials', '--introspect']);
  const app = await create('bench-app', ['--grants', 'password,refresh_token', '--scopes', 'read']);
  const password = 'bench-password-0123';
  const passwordUsers = Array.from({ length: counts.passwordUsers }, (_, i) => `pw${i}`);
  // Five sessions per user (the default MAX_SESSIONS_PER_USER), so opening them evicts none.
  const refreshUsers = Array.from({ length: Math.ceil(counts.refreshSessions / 5) }, (_, i) => `rt${i}`);
  await pool([...passwordUsers, ...refreshUsers], 4, async (u) => {
    await cli(o.root, cliEnv, ['users', 'create', '--username', u], `${password}\n`);
  });

  const nodeArgs: string[] = [];
  if (o.cpuProfileDir) {
    mkdirSync(o.cpuProfileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfileDir}`);
  }
  const child = spawn(process.execPath, [...nodeArgs, path.join(o.root, 'dist/src/main.js')], {
    cwd: o.root,
    env: { ...env, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info' },
    // One JSON line per request is part of production's cost: keep it, send it nowhere.
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  await waitReady(url, child, () => stderr);
  return {
    label: o.label,
    url,
    pid: child.pid as number,
    databaseUrl: database.url,
    seeded: { cc, rs, app, passwordUsers, refreshUsers, password },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await database.drop();
      await dropRedisPrefix(o.redisUrl, prefix);
    },
  };
}
