import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { createApp } from '../../src/app.js';
import { type BuildOptions, buildServices, type Services } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability.js';
import { fileDatabase, type TestDatabase } from './database.js';
import { deletePrefix } from './redis.js';

/** A fixed test KEK (base64url of 32 bytes); never used outside tests. */
export const TEST_KEK = 'Qm3v8ZkT1xR6pWc0sJ4nH9yLbD2eGfA7uVqiEt5oNMw';

/**
 * This test file's Redis key prefix: files run in parallel on one Redis, each in its own
 * namespace (ava runs every file in its own process, so this is per file).
 */
export const TEST_REDIS_PREFIX = `t_${randomBytes(6).toString('hex')}:`;
let usedSharedRedis = false;

/** For helpers that hand REDIS_URL to another component (the CLI): its keys are cleaned up too. */
export function sharedRedisEnv(): Record<string, string> {
  if (!process.env.REDIS_URL) return {};
  usedSharedRedis = true;
  return { REDIS_URL: process.env.REDIS_URL, REDIS_KEY_PREFIX: TEST_REDIS_PREFIX };
}

test.after.always("delete this file's keys from the shared Redis", async () => {
  if (usedSharedRedis && process.env.REDIS_URL) await deletePrefix(process.env.REDIS_URL, TEST_REDIS_PREFIX);
});

/** Cheap argon2id parameters: tests exercise the algorithm, not its cost. */
export const TEST_HASHING = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export interface TestClock {
  now: () => number;
  advance(seconds: number): void;
}

export function testClock(start = Date.now()): TestClock {
  let t = start;
  return {
    now: () => t,
    advance: (s) => {
      t += s * 1000;
    },
  };
}

export interface TestServer {
  services: Services;
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface TestServerOptions extends Partial<BuildOptions> {
  env?: Record<string, string>;
  /** Listen on a fixed free port and use http://127.0.0.1:PORT as ISSUER (for real OAuth clients). */
  issuerFromUrl?: boolean;
  /** Another database than the file's shared one. */
  database?: TestDatabase;
}

async function build(options: TestServerOptions, database: TestDatabase, port: number): Promise<Services> {
  const config = loadConfig({
    ISSUER: options.issuerFromUrl ? `http://127.0.0.1:${port}` : 'http://tessera.test',
    KEY_ENCRYPTION_KEY: TEST_KEK,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...(process.env.REDIS_URL
      ? { REDIS_URL: process.env.REDIS_URL, REDIS_KEY_PREFIX: TEST_REDIS_PREFIX }
      : {}),
    ...options.env,
  });
  usedSharedRedis ||= config.redisUrl === process.env.REDIS_URL && config.redisUrl !== undefined;
  return buildServices(config, {
    log: createLogger(config.logLevel),
    hashing: TEST_HASHING,
    ...options,
    db: database.db,
  });
}

/** Builds services + app on the per-file database and listens on a free loopback port. */
export async function startServer(
  options: TestServerOptions = {},
): Promise<TestServer & { database: TestDatabase }> {
  const database = options.database ?? (await fileDatabase());
  // Listen first and attach the app later: the ISSUER may name the port, and a port picked
  // free and bound later can be taken meanwhile by a parallel test file (EADDRINUSE).
  const server = createHttpServer();
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const services = await build(options, database, port).catch((err: unknown) => {
    server.close();
    throw err;
  });
  server.on('request', createApp(services).callback());
  let closed = false;
  return {
    services,
    database,
    server,
    url: `http://127.0.0.1:${port}`,
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.close();
    },
  };
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** startServer + registers teardown on the test. */
export async function useServer(t: ExecutionContext, options: TestServerOptions = {}) {
  const s = await startServer(options);
  t.teardown(() => s.close());
  return s;
}

/** Starts `src/main.ts` with `env` on top of this process's and expects it to exit 1 at start. */
export async function refusedStart(t: ExecutionContext, env: Record<string, string>, expected: RegExp) {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, `one line: ${r.stderr}`);
  t.regex(lines[0] as string, expected);
}
