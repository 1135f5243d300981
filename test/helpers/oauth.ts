import type { ExecutionContext } from 'ava';
import type { TestServer } from './app.js';

export interface TestClient {
  client_id: string;
  client_secret?: string;
}

export const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export async function createClient(
  s: TestServer,
  input: Parameters<TestServer['services']['clientAccounts']['create']>[0],
) {
  return (await s.services.clientAccounts.create(input)) as TestClient;
}

let users = 0;

/** Usernames are unique per call because the tests of one file share a database. */
export async function createUser(
  s: TestServer,
  name = 'alice',
  password = 'correct horse battery',
  roles = ['user'],
) {
  const username = `${name}${++users}`;
  const u = await s.services.userAccounts.create(username, password, roles);
  return { ...u, password };
}

/** POSTs a form body; returns status, headers and parsed JSON. */
export async function postForm(
  url: string,
  body: Record<string, string> | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof body === 'string' ? body : new URLSearchParams(body).toString(),
  });
  const { body: parsed } = await readAnswer(res);
  return { status: res.status, headers: res.headers, body: parsed };
}

/** The body of an answer, parsed as JSON when it is (else `{raw}`), and its text. */
export async function readAnswer(res: Response): Promise<{ body: Record<string, unknown>; text: string }> {
  const text = await res.text();
  try {
    return { body: text ? JSON.parse(text) : {}, text };
  } catch {
    return { body: { raw: text }, text };
  }
}

/** A password grant with Basic auth; returns the token response body. */
export async function passwordLogin(
  s: TestServer,
  client: TestClient,
  username: string,
  password: string,
  extra = {},
  headers: Record<string, string> = {},
) {
  return postForm(
    `${s.url}/token`,
    { grant_type: 'password', username, password, ...extra },
    { authorization: basic(client.client_id, client.client_secret ?? ''), ...headers },
  );
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const { body } = await readAnswer(res);
  return { status: res.status, headers: res.headers, body };
}

/** Asserts an RFC 6749 §5.2 error answer: exact status, error code, JSON, no-store. */
export function assertOAuthError(
  t: ExecutionContext,
  res: { status: number; headers: Headers; body: Record<string, unknown> },
  status: number,
  error: string,
) {
  t.is(res.status, status, JSON.stringify(res.body));
  t.is(res.body.error, error);
  t.is(typeof res.body.error_description, 'string');
  t.regex(res.headers.get('content-type') ?? '', /application\/json/);
  t.is(res.headers.get('cache-control'), 'no-store');
}

/** POST /introspect as `caller` (client_secret_basic). */
export const introspect = (
  s: TestServer,
  caller: TestClient,
  token: string,
  extra: Record<string, string> = {},
) =>
  postForm(
    `${s.url}/introspect`,
    { token, ...extra },
    { authorization: basic(caller.client_id, caller.client_secret ?? '') },
  );

/** A resource server: a client_credentials client that may introspect tokens for `audiences`. */
export const createResourceServer = (s: TestServer, audiences: string[]) =>
  createClient(s, {
    name: 'resource server',
    grantTypes: ['client_credentials'],
    audiences,
    canIntrospect: true,
  });

/** POST /token grant_type=client_credentials with client_secret_basic. */
export const clientCredentials = (s: TestServer, client: TestClient, extra: Record<string, string> = {}) =>
  postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials', ...extra },
    {
      authorization: basic(client.client_id, client.client_secret ?? ''),
    },
  );
