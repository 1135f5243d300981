import type fc from 'fast-check';
import { decodeJwt } from 'jose';
import { sha256 } from '../../src/tokens/secrets.js';
import { startServer, type TestClock, type TestServer, testClock } from '../helpers/app.js';
import { CookieJar } from '../helpers/authorize.js';
import { createClient, createResourceServer, type TestClient } from '../helpers/oauth.js';

/**
 * The real system of the session model (docs/sessions.md, "The session protocol as a model"): one
 * server on this file's database (real Postgres and Redis when DATABASE_URL / REDIS_URL are set,
 * PGlite and in-process state otherwise) with an injected clock, and per run fresh clients and
 * users, so runs share the server but never each other's sessions.
 */

export const ISSUER = 'http://tessera.test';
export const API = 'https://api.example';
export const OTHER = 'https://other.example';

/** Lifetimes short enough for a run's clock to cross them (seconds). */
export const SETTINGS = {
  idleTtl: 120,
  maxAge: 300,
  accessTokenTtl: 900,
  codeTtl: 60,
  /** The leeway of the second client (the first has none). */
  leeway: 30,
} as const;

export interface Server {
  s: TestServer;
  clock: TestClock;
  /** A resource server that may introspect tokens for every audience the clients ever have. */
  rs: TestClient;
  close(): Promise<void>;
}

export async function startModelServer(): Promise<Server> {
  const clock = testClock(Date.parse('2030-01-01T00:00:00Z'));
  const s = await startServer({
    now: clock.now,
    env: {
      ISSUER,
      REFRESH_TOKEN_IDLE_TTL: `${SETTINGS.idleTtl}s`,
      REFRESH_TOKEN_MAX_AGE: `${SETTINGS.maxAge}s`,
      ACCESS_TOKEN_TTL: `${SETTINGS.accessTokenTtl}s`,
      AUTHORIZATION_CODE_TTL: `${SETTINGS.codeTtl}s`,
      REFRESH_REUSE_LEEWAY: '0s',
      // The cap is a rule of its own (test/http/refresh.test.ts); the model never reaches it.
      MAX_SESSIONS_PER_USER: '1000',
      // The model is one client hammering /token: rate limits are not what it checks.
      RATE_LIMIT_CLIENT_PER_MINUTE: '100000000',
      RATE_LIMIT_IP_FAILURES_PER_HOUR: '10000000',
    },
  });
  const rs = await createResourceServer(s, [API, OTHER]);
  return { s, clock, rs, close: () => s.close() };
}

export interface RunClient extends TestClient {
  leeway: number;
}

export interface RunUser {
  id: string;
  username: string;
  password: string;
  jar: CookieJar;
}

/** The per-run actors: a client without leeway, one with, two users. */
export interface Real {
  server: Server;
  clients: RunClient[];
  users: RunUser[];
  /** Commands this run has executed, by name (the test logs the mix). */
  executed: Map<string, number>;
  /** Set by the scheduled run: the order in which a race's requests start. */
  scheduler?: fc.Scheduler;
}

let runs = 0;

export async function newRun(server: Server, scheduler?: fc.Scheduler): Promise<Real> {
  const { s } = server;
  const run = ++runs;
  const clients: RunClient[] = [];
  for (const leeway of [0, SETTINGS.leeway]) {
    const c = await createClient(s, {
      name: `model ${run} leeway ${leeway}`,
      grantTypes: ['password', 'authorization_code', 'refresh_token'],
      scopes: ['read', 'write'],
      audiences: [ISSUER, API],
      redirectUris: ['https://app.example.test/callback'],
    });
    await s.services.db('clients').where({ id: c.client_id }).update({ refresh_reuse_leeway: leeway });
    // The update forgets this instance's cached copy (src/stores/cached_clients.ts).
    await s.services.clientAccounts.update(c.client_id, { name: `model ${run} leeway ${leeway}` });
    clients.push({ ...c, leeway });
  }
  const users: RunUser[] = [];
  for (const i of [0, 1]) {
    const username = `model${run}u${i}`;
    const password = 'correct horse battery';
    const u = await s.services.userAccounts.create(username, password, ['user']);
    users.push({ id: u.id, username, password, jar: new CookieJar() });
  }
  return { server, clients, users, executed: new Map(), ...(scheduler ? { scheduler } : {}) };
}

export { sha256 };

/** `aud` as a list, whatever its JSON shape (RFC 7519 §4.1.3). */
export function audienceOf(accessToken: string): string[] {
  const aud = decodeJwt(accessToken).aud;
  return typeof aud === 'string' ? [aud] : (aud ?? []);
}

/**
 * Runs the operations at once; under a scheduler, the scheduler decides the order in which they
 * start (fc.scheduler), and they still overlap on the server.
 */
export async function race<T>(real: Real, ops: (() => Promise<T>)[], labels: string[]): Promise<T[]> {
  const { scheduler } = real;
  if (!scheduler) return Promise.all(ops.map((op) => op()));
  const started = ops.map((op, i) => scheduler.schedule(Promise.resolve(), labels[i]).then(op));
  // Releases the starts one by one in the scheduler's order; the requests then overlap for real.
  await scheduler.waitAll();
  return Promise.all(started);
}
