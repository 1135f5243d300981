// The pieces the soak (bench/soak.ts) and chaos (bench/chaos.ts) runs share: Tessera server
// processes started from src/main.ts, seeding through the domain layer, a keep-alive HTTP client,
// /metrics scraping, and throwaway Postgres / Redis servers the chaos run may kill.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { buildServices } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability.js';
import {
  postgresBinDir as findPostgresBin,
  ThrowawayPostgres as OwnPostgres,
} from '../../test/helpers/throwaway_postgres.js';
import { freePort } from './tessera.js';

export { freePort };

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export interface Instance {
  name: string;
  port: number;
  url: string;
  child: ChildProcess;
  /** The last lines of its stderr (startup failures, fatal errors). */
  output(): string;
  /** Log lines at level error or above (pino levels 50, 60), newest last, at most 50. */
  errors: string[];
  start(): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** One server process (`node --import tsx src/main.ts`) with `env`; `start()` again after a kill. */
export function serverProcess(name: string, port: number, env: Record<string, string>): Instance {
  let tail = '';
  let partial = '';
  const inst: Instance = {
    errors: [],
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    child: undefined as unknown as ChildProcess,
    output: () => tail,
    async start() {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          HOST: '127.0.0.1',
          PORT: String(port),
          LOG_LEVEL: 'warn',
          // As the image runs it (docs/configuration.md): an RSS trend must not be argon2id's
          // blocks settling into libuv threads' arenas.
          MALLOC_MMAP_THRESHOLD_: '1048576',
          ...env,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr?.on('data', (d) => {
        tail = (tail + d).slice(-4000);
        const lines = (partial + d).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (/"level":(50|60)/.test(line)) inst.errors.push(line.slice(0, 1500));
        if (inst.errors.length > 50) inst.errors.splice(0, inst.errors.length - 50);
      });
      inst.child = child;
      const deadline = Date.now() + 90_000;
      for (;;) {
        const res = await get(`${inst.url}/readyz`).catch(() => undefined);
        if (res?.status === 200) return;
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`${name} did not start: ${tail}`);
        await sleep(200);
      }
    },
    kill(signal) {
      inst.child.kill(signal);
    },
    async stop() {
      const child = inst.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
  return inst;
}

export interface Seed {
  cc: { id: string; secret: string };
  rs: { id: string; secret: string };
  app: { id: string; secret: string };
  users: string[];
  password: string;
}

export const API_AUDIENCE = 'https://api.soak.test';

/**
 * Migrates and seeds through the domain layer: a client_credentials client, a resource server that
 * introspects its audience, a password + refresh app, and `users` users.
 */
export async function seed(env: Record<string, string>, users: number): Promise<Seed> {
  const config = loadConfig({ ...env, LOG_LEVEL: 'warn' });
  const s = await buildServices(config, {
    log: createLogger('warn'),
    migrations: 'apply',
    withoutKeys: true,
    listen: false,
  });
  try {
    const create = async (input: Parameters<typeof s.clientAccounts.create>[0]) => {
      const c = (await s.clientAccounts.create(input)) as { client_id: string; client_secret: string };
      return { id: c.client_id, secret: c.client_secret };
    };
    const cc = await create({
      name: 'load-cc',
      grantTypes: ['client_credentials'],
      scopes: ['read'],
      audiences: [API_AUDIENCE],
    });
    const rs = await create({
      name: 'load-rs',
      grantTypes: ['client_credentials'],
      audiences: [API_AUDIENCE],
      canIntrospect: true,
    });
    const app = await create({
      name: 'load-app',
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read'],
      audiences: [config.issuer, API_AUDIENCE],
    });
    const password = 'load-password-0123';
    const names = Array.from({ length: users }, (_, i) => `load${i}`);
    for (const u of names) await s.userAccounts.create(u, password, ['user']);
    return { cc, rs, app, users: names, password };
  } finally {
    await s.close();
  }
}

/** A fresh database on a Postgres server (the soak's), dropped by the returned function. */
export async function freshDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tessera_load_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  ms: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One request on a keep-alive connection; rejects on a network error or after `timeoutMs`. */
export function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
  timeoutMs = 10_000,
): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown> = {};
        try {
          parsed = text?.startsWith('{') ? JSON.parse(text) : { raw: text };
        } catch {
          parsed = { raw: text };
        }
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: parsed,
          ms: performance.now() - started,
        });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const body = new URLSearchParams(form).toString();
  return request(
    url,
    'POST',
    {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(Buffer.byteLength(body)),
      ...headers,
    },
    body,
  );
}

export const get = (url: string, headers: Record<string, string> = {}) => request(url, 'GET', headers);

/** Named Prometheus samples from /metrics (summed over label sets). */
export async function scrape(url: string, names: string[]): Promise<Record<string, number>> {
  const res = await new Promise<string>((resolve, reject) => {
    http
      .get(`${url}/metrics`, { agent }, (r) => {
        let text = '';
        r.on('data', (d) => {
          text += d;
        });
        r.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
  const out: Record<string, number> = {};
  for (const line of res.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+|NaN)/.exec(line);
    if (m && names.includes(m[1] as string)) out[m[1] as string] = (out[m[1] as string] ?? 0) + Number(m[3]);
  }
  return out;
}

/** The PostgreSQL server binaries (Debian layout), newest version first. */
export function postgresBinDir(): string {
  const dir = findPostgresBin();
  if (!dir) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  return dir;
}

/** A PostgreSQL the run owns (test/helpers/throwaway_postgres.ts), never the machine's service. */
export class ThrowawayPostgres extends OwnPostgres {
  constructor(bin = postgresBinDir()) {
    super(bin);
  }
}

/** A throwaway redis-server on a free port, without persistence (a restart loses everything). */
export class ThrowawayRedis {
  private child: ChildProcess | undefined;
  port = 0;
  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start() {
    if (!this.port) this.port = await freePort();
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('redis-cli', ['-p', String(this.port), 'ping'], { stdio: 'ignore' });
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error('throwaway redis did not start');
  }
  cli(...args: string[]): string {
    return execFileSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8' }).trim();
  }
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }
}

/** Percentile of an ascending array (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}
