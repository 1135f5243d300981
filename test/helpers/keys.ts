import type { ExecutionContext } from 'ava';
import { decodeProtectedHeader } from 'jose';
import type { KeyChangeSignal } from '../../src/keys/signal.js';
import { type TestServer, type TestServerOptions, useServer } from './app.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { basic, createClient, getJson, postForm, type TestClient } from './oauth.js';

/**
 * Key tests change the key table, so each test gets its own database (ava runs a file's tests
 * concurrently). The database is dropped after the servers on it are closed.
 */
export async function isolatedDatabase(t: ExecutionContext): Promise<TestDatabase> {
  const database = await createTestDatabase();
  t.teardown(() => database.drop());
  return database;
}

export async function keyServer(t: ExecutionContext, options: TestServerOptions = {}) {
  const database = options.database ?? (await isolatedDatabase(t));
  return useServer(t, { ...options, database });
}

/** An admin client and a token with scope admin (client_credentials, docs/cli.md --admin). */
export async function adminToken(s: TestServer): Promise<string> {
  const admin = await createClient(s, { name: 'ops', grantTypes: ['client_credentials'], isAdmin: true });
  return clientToken(s, admin, 'admin');
}

export async function clientToken(s: TestServer, client: TestClient, scope?: string): Promise<string> {
  const res = await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials', ...(scope ? { scope } : {}) },
    { authorization: basic(client.client_id, client.client_secret ?? '') },
  );
  if (res.status !== 200) throw new Error(`token request failed: ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

/** A plain client able to get tokens, for checking which kid signs. */
export async function serviceClient(s: TestServer): Promise<TestClient> {
  return createClient(s, { name: 'svc', grantTypes: ['client_credentials'], scopes: ['read'] });
}

export const kidOf = (token: string) => decodeProtectedHeader(token).kid as string;
export const algOf = (token: string) => decodeProtectedHeader(token).alg as string;

export async function jwksKids(s: TestServer): Promise<string[]> {
  const res = await getJson(`${s.url}/.well-known/jwks.json`);
  return (res.body.keys as { kid: string }[]).map((k) => k.kid);
}

export async function adminPost(s: TestServer, pathname: string, token: string, body?: unknown) {
  const res = await fetch(`${s.url}${pathname}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: JSON.parse(text) as Record<string, unknown>,
    text,
  };
}

/** Polls `probe` until it returns true or `ms` pass; returns the elapsed milliseconds or -1. */
export async function within(ms: number, probe: () => Promise<boolean>, step = 25): Promise<number> {
  const start = Date.now();
  while (Date.now() - start <= ms) {
    if (await probe()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, step));
  }
  return -1;
}

/** A signal that publishes nothing and hears nothing: an instance that misses every message. */
export const deafSignal = (): KeyChangeSignal => ({
  publish: async () => {},
  subscribe: () => () => {},
  close: async () => {},
});

export { cli, cliEnv, readyCliEnv } from './cli.js';

/** JSON members that only private JWKs have (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2), and the sealed column. */
export const PRIVATE_MARKERS = /"(d|p|q|dp|dq|qi|oth|private_jwe|privateJwe)"\s*:/;
