import test from 'ava';
import type { TestServer } from '../helpers/app.js';
import { useServer } from '../helpers/app.js';
import {
  APP_ORIGIN,
  authorizationRequest,
  CookieJar,
  createCodeClient,
  REDIRECT_URI,
  signIn,
} from '../helpers/authorize.js';
import { assertOAuthError, basic, createUser, getJson } from '../helpers/oauth.js';

type Client = Awaited<ReturnType<typeof createCodeClient>>;

const cookieClient = (s: TestServer) =>
  createCodeClient(s, { isPublic: true, allowedOrigins: [APP_ORIGIN], refreshCookie: true });

/** The refresh cookie of one client (docs/browser-apps.md): `tessera_rt_<client_id>`. */
const rt = (client: Client) => `tessera_rt_${client.client_id}`;

/** A browser's POST: Origin and the jar's cookies; the answer's cookies go back into the jar. */
async function browserPost(
  url: string,
  form: Record<string, string>,
  jar: CookieJar,
  headers: Record<string, string> = {},
) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      origin: APP_ORIGIN,
      ...jar.header(),
      ...headers,
    },
    body: new URLSearchParams(form).toString(),
  });
  jar.store(res.headers);
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
  };
}

/** Signs in through the login page and redeems the code from the app's origin. */
async function signedIn(s: TestServer, client: Client) {
  const user = await createUser(s);
  const request = authorizationRequest(client.client_id);
  const back = await signIn(s, request.params, user);
  const jar = new CookieJar();
  const res = await browserPost(
    `${s.url}/token`,
    {
      grant_type: 'authorization_code',
      client_id: client.client_id,
      code: back.query.get('code') as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: request.pair.verifier,
    },
    jar,
  );
  return { res, jar, user, loginJar: back.jar };
}

test('cookie mode: the refresh token is only in an HttpOnly SameSite=Strict cookie; CORS with credentials', async (t) => {
  const s = await useServer(t);
  const client = await cookieClient(s);
  const { res, jar } = await signedIn(s, client);
  t.is(res.status, 200, JSON.stringify(res.body));
  t.truthy(res.body.access_token);
  t.false('refresh_token' in res.body, 'never in the body');
  const cookie = jar.lastSetCookie(rt(client)) ?? '';
  t.true(cookie.startsWith(`${rt(client)}=`), cookie);
  t.regex(cookie, /^[^=]+=[A-Za-z0-9_-]{43};/);
  t.regex(cookie, /HttpOnly/);
  t.regex(cookie, /SameSite=Strict/);
  t.regex(cookie, /Path=\//);
  t.notRegex(cookie, /Secure/, 'plain-http issuer');
  t.is(res.headers.get('access-control-allow-origin'), APP_ORIGIN);
  t.is(res.headers.get('access-control-allow-credentials'), 'true');
  t.regex(res.headers.get('vary') ?? '', /Origin/);
});

test('cookie mode on an https issuer: __Host-tessera_rt_<client_id> with Secure', async (t) => {
  const s = await useServer(t, { env: { ISSUER: 'https://tessera.test' } });
  const client = await cookieClient(s);
  const { res, jar } = await signedIn(s, client);
  t.is(res.status, 200);
  t.regex(jar.lastSetCookie(`__Host-${rt(client)}`) ?? '', /HttpOnly.*Secure|Secure.*HttpOnly/);
});

test('the refresh grant reads the cookie, rotates it, and a failed refresh clears it', async (t) => {
  const s = await useServer(t);
  const client = await cookieClient(s);
  const { jar } = await signedIn(s, client);
  const first = jar.cookies.get(rt(client)) as string;
  const refreshed = await browserPost(
    `${s.url}/token`,
    { grant_type: 'refresh_token', client_id: client.client_id },
    jar,
  );
  t.is(refreshed.status, 200, JSON.stringify(refreshed.body));
  t.false('refresh_token' in refreshed.body);
  const second = jar.cookies.get(rt(client));
  t.truthy(second);
  t.not(second, first, 'rotated');

  // Presenting the spent cookie again is reuse: refused, family revoked, cookie cleared.
  const stale = new CookieJar();
  stale.cookies.set(rt(client), first);
  const replay = await browserPost(
    `${s.url}/token`,
    { grant_type: 'refresh_token', client_id: client.client_id },
    stale,
  );
  assertOAuthError(t, replay, 400, 'invalid_grant');
  t.regex(stale.lastSetCookie(rt(client)) ?? '', /^[^=]+=;.*Max-Age=0/);
  t.is(replay.headers.get('access-control-allow-origin'), APP_ORIGIN, 'the app can read why');
});

test('a request carrying the cookie from an unregistered origin, or with no Origin, is 403 invalid_request', async (t) => {
  const s = await useServer(t);
  const client = await cookieClient(s);
  const { jar } = await signedIn(s, client);
  const form = { grant_type: 'refresh_token', client_id: client.client_id };
  const evil = await browserPost(`${s.url}/token`, form, jar, { origin: 'https://evil.example' });
  assertOAuthError(t, evil, 403, 'invalid_request');
  t.is(evil.headers.get('access-control-allow-origin'), null);
  const res = await fetch(`${s.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
    body: new URLSearchParams(form).toString(),
  });
  t.is(res.status, 403);
  // Still usable from the registered origin: the refusals spent nothing.
  t.is((await browserPost(`${s.url}/token`, form, jar)).status, 200);
});

test('preflight: registered origins get CORS with credentials on /token, /revoke, /logout, without on /me; others 403', async (t) => {
  const s = await useServer(t);
  await cookieClient(s);
  for (const path of ['/token', '/revoke', '/logout', '/me']) {
    const credentials = path === '/me' ? null : 'true';
    const ok = await fetch(`${s.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin: APP_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    t.is(ok.status, 204, path);
    t.is(ok.headers.get('access-control-allow-origin'), APP_ORIGIN, path);
    t.is(ok.headers.get('access-control-allow-credentials'), credentials, path);
    t.regex(ok.headers.get('access-control-allow-headers') ?? '', /Authorization/i, path);
    const refused = await fetch(`${s.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    t.is(refused.status, 403, path);
    t.is(refused.headers.get('access-control-allow-origin'), null, path);
  }
});

test('/logout ends the session and clears the refresh and login cookies', async (t) => {
  const s = await useServer(t);
  const client = await cookieClient(s);
  const { res, jar, loginJar } = await signedIn(s, client);
  for (const [k, v] of loginJar.cookies) jar.cookies.set(k, v);
  const out = await browserPost(`${s.url}/logout`, {}, jar, {
    authorization: `Bearer ${res.body.access_token}`,
  });
  t.is(out.status, 204);
  t.is(out.headers.get('access-control-allow-origin'), APP_ORIGIN);
  t.regex(jar.lastSetCookie(rt(client)) ?? '', /^[^=]+=;.*Max-Age=0/);
  t.regex(jar.lastSetCookie('tessera_login') ?? '', /^tessera_login=;.*Max-Age=0/);
  t.is(jar.cookies.size, 1, 'only the CSRF cookie of the login form is left');
  const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${res.body.access_token}` });
  t.is(me.status, 401);
  // The login session is gone too: /authorize asks again.
  const again = await fetch(
    `${s.url}/authorize?${new URLSearchParams(authorizationRequest(client.client_id).params)}`,
    {
      redirect: 'manual',
      headers: loginJar.header(),
    },
  );
  t.is(again.status, 200);
});

test('/revoke reads the cookie when the body has no token, and clears it', async (t) => {
  const s = await useServer(t);
  const client = await cookieClient(s);
  const { res, jar } = await signedIn(s, client);
  const old = jar.cookies.get(rt(client)) as string;
  const revoked = await browserPost(`${s.url}/revoke`, { client_id: client.client_id }, jar);
  t.is(revoked.status, 200, JSON.stringify(revoked.body));
  t.regex(jar.lastSetCookie(rt(client)) ?? '', /Max-Age=0/);
  const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${res.body.access_token}` });
  t.is(me.status, 401, 'revoking the refresh token ended its session');
  const replay = new CookieJar();
  replay.cookies.set(rt(client), old);
  assertOAuthError(
    t,
    await browserPost(`${s.url}/token`, { grant_type: 'refresh_token', client_id: client.client_id }, replay),
    400,
    'invalid_grant',
  );
});

test('clients outside cookie mode keep the refresh token in the body and set no cookie', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const user = await createUser(s);
  const request = authorizationRequest(client.client_id);
  const back = await signIn(s, request.params, user);
  const res = await fetch(`${s.url}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basic(client.client_id, client.client_secret as string),
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: back.query.get('code') as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: request.pair.verifier,
    }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  t.is(res.status, 200);
  t.truthy(body.refresh_token);
  t.deepEqual(res.headers.getSetCookie(), []);
});
