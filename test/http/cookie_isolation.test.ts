import test from 'ava';
import type { TestServer } from '../helpers/app.js';
import { useServer } from '../helpers/app.js';
import {
  authorizationRequest,
  CookieJar,
  createCodeClient,
  getAuthorize,
  signIn,
} from '../helpers/authorize.js';
import { assertOAuthError, createUser, getJson } from '../helpers/oauth.js';

// docs/browser-apps.md "Cookie mode": one refresh cookie per client, the origin rule whenever any
// Tessera cookie is present, CORS only for the named client's origins (docs/security.md N9–N12).

const ORIGIN_A = 'https://notes.example.test';
const ORIGIN_B = 'https://photos.example.test';

type Client = Awaited<ReturnType<typeof createCodeClient>>;
type User = Awaited<ReturnType<typeof createUser>>;

const cookieApp = (s: TestServer, origin: string) =>
  createCodeClient(s, {
    isPublic: true,
    allowedOrigins: [origin],
    redirectUris: [`${origin}/callback`],
    refreshCookie: true,
  });

const rt = (client: Client) => `tessera_rt_${client.client_id}`;

/** A browser's POST: the given Origin (none when undefined) and the jar's cookies; answers go back into it. */
async function post(
  url: string,
  form: Record<string, string>,
  jar: CookieJar,
  origin: string | undefined,
  headers: Record<string, string> = {},
) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(origin ? { origin } : {}),
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
    setCookies: res.headers.getSetCookie(),
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
  };
}

/** Signs `user` in to `client` in the browser `jar` (login cookie included) and redeems the code. */
async function signInApp(s: TestServer, client: Client, origin: string, user: User, jar: CookieJar) {
  const request = authorizationRequest(client.client_id, { redirect_uri: `${origin}/callback` });
  // The second app of one browser finds the login session: no password asked.
  const silent = await getAuthorize(s, request.params, jar);
  const location = silent.status === 302 ? silent.location : null;
  const back = location
    ? { query: new URL(location).searchParams }
    : await signIn(s, request.params, user, jar);
  return post(
    `${s.url}/token`,
    {
      grant_type: 'authorization_code',
      client_id: client.client_id,
      code: back.query.get('code') as string,
      redirect_uri: `${origin}/callback`,
      code_verifier: request.pair.verifier,
    },
    jar,
    origin,
  );
}

/** Whether the browser's login session is alive: /authorize answers with a redirect, not the login page. */
async function loginSessionAlive(s: TestServer, client: Client, origin: string, jar: CookieJar) {
  const params = authorizationRequest(client.client_id, { redirect_uri: `${origin}/callback` }).params;
  return (await getAuthorize(s, params, jar)).status === 302;
}

const refresh = (s: TestServer, client: Client, jar: CookieJar, origin: string) =>
  post(`${s.url}/token`, { grant_type: 'refresh_token', client_id: client.client_id }, jar, origin);

test('N9: two cookie-mode apps keep one cookie each; a failed refresh of one clears only its own', async (t) => {
  const s = await useServer(t);
  const [a, b] = [await cookieApp(s, ORIGIN_A), await cookieApp(s, ORIGIN_B)];
  const user = await createUser(s);
  const jar = new CookieJar();
  t.is((await signInApp(s, a, ORIGIN_A, user, jar)).status, 200);
  const aCookie = jar.cookies.get(rt(a));
  t.is((await signInApp(s, b, ORIGIN_B, user, jar)).status, 200);
  t.truthy(aCookie);
  t.is(jar.cookies.get(rt(a)), aCookie, "B's sign-in left A's cookie alone");
  t.truthy(jar.cookies.get(rt(b)));

  // B's cookie goes stale (spent elsewhere): B's failed refresh clears B's cookie, nothing else.
  const staleB = jar.cookies.get(rt(b)) as string;
  const rotatedB = await refresh(s, b, jar, ORIGIN_B);
  t.is(rotatedB.status, 200);
  jar.cookies.set(rt(b), staleB);
  const failed = await refresh(s, b, jar, ORIGIN_B);
  assertOAuthError(t, failed, 400, 'invalid_grant');
  t.deepEqual(
    failed.setCookies.map((c) => c.split('=')[0]),
    [rt(b)],
    'the only cookie touched is B’s',
  );
  t.regex(failed.setCookies[0] ?? '', /Max-Age=0/);
  t.is(jar.cookies.get(rt(a)), aCookie);

  // A still refreshes with its own cookie.
  const ok = await refresh(s, a, jar, ORIGIN_A);
  t.is(ok.status, 200, JSON.stringify(ok.body));
  t.deepEqual(
    ok.setCookies.map((c) => c.split('=')[0]),
    [rt(a)],
  );
});

test('N9: /logout and /revoke of one app clear only that app’s cookie', async (t) => {
  const s = await useServer(t);
  const [a, b] = [await cookieApp(s, ORIGIN_A), await cookieApp(s, ORIGIN_B)];
  const user = await createUser(s);
  const jar = new CookieJar();
  await signInApp(s, a, ORIGIN_A, user, jar);
  const signedB = await signInApp(s, b, ORIGIN_B, user, jar);
  jar.cookies.delete('tessera_login');
  const revoked = await post(`${s.url}/revoke`, { client_id: a.client_id }, jar, ORIGIN_A);
  t.is(revoked.status, 200);
  t.deepEqual(
    revoked.setCookies.map((c) => c.split('=')[0]),
    [rt(a)],
  );
  const out = await post(`${s.url}/logout`, {}, jar, ORIGIN_B, {
    authorization: `Bearer ${signedB.body.access_token}`,
  });
  t.is(out.status, 204);
  t.deepEqual(
    out.setCookies.map((c) => c.split('=')[0]),
    [rt(b)],
  );
});

test('N10/N11: POST /logout with the login cookie, client_id and a registered Origin ends the login session', async (t) => {
  const s = await useServer(t);
  const a = await cookieApp(s, ORIGIN_A);
  const user = await createUser(s);
  const jar = new CookieJar();
  await signInApp(s, a, ORIGIN_A, user, jar);
  t.true(await loginSessionAlive(s, a, ORIGIN_A, jar));
  const out = await post(`${s.url}/logout`, { client_id: a.client_id }, jar, ORIGIN_A);
  t.is(out.status, 204, JSON.stringify(out.body));
  t.is(out.headers.get('access-control-allow-origin'), ORIGIN_A);
  t.is(out.headers.get('access-control-allow-credentials'), 'true');
  t.regex(out.setCookies.find((c) => c.startsWith('tessera_login=')) ?? '', /Max-Age=0/);
  t.false(jar.cookies.has(rt(a)), 'and the refresh cookie went too');
  t.false(await loginSessionAlive(s, a, ORIGIN_A, jar), '/authorize asks for the password again');

  // An app outside cookie mode (tokens in memory) ends the login session the same way.
  const spa = await createCodeClient(s, {
    isPublic: true,
    allowedOrigins: [ORIGIN_B],
    redirectUris: [`${ORIGIN_B}/callback`],
  });
  const browser = new CookieJar();
  await signInApp(s, spa, ORIGIN_B, user, browser);
  t.deepEqual([...browser.cookies.keys()].sort(), ['tessera_csrf', 'tessera_login']);
  const spaOut = await post(`${s.url}/logout`, { client_id: spa.client_id }, browser, ORIGIN_B);
  t.is(spaOut.status, 204, JSON.stringify(spaOut.body));
  t.false(await loginSessionAlive(s, spa, ORIGIN_B, browser));
});

test('N11: a stale refresh cookie plus the login cookie without a registered Origin ends nothing (logout CSRF)', async (t) => {
  const s = await useServer(t);
  const [a, b] = [await cookieApp(s, ORIGIN_A), await cookieApp(s, ORIGIN_B)];
  const user = await createUser(s);
  const jar = new CookieJar();
  await signInApp(s, a, ORIGIN_A, user, jar);
  jar.cookies.set(rt(a), 'c'.repeat(43)); // stale: names no session
  for (const [form, origin] of [
    [{ client_id: a.client_id }, undefined],
    [{ client_id: a.client_id }, 'https://evil.example'],
    [{ client_id: a.client_id }, ORIGIN_B], // registered, but for another client
    [{}, ORIGIN_A], // names no client
  ] as const) {
    const res = await post(`${s.url}/logout`, form, jar, origin);
    assertOAuthError(t, res, 403, 'invalid_request');
    t.deepEqual(res.setCookies, [], 'no cookie cleared');
    t.not(res.headers.get('access-control-allow-origin'), ORIGIN_A);
  }
  t.true(await loginSessionAlive(s, a, ORIGIN_A, jar), 'the login session survived');
  t.truthy(b);
});

test('N11: the origin rule holds whenever any Tessera cookie is present, for any client', async (t) => {
  const s = await useServer(t);
  const a = await cookieApp(s, ORIGIN_A);
  // A public client outside cookie mode: without cookies it needs no Origin at all.
  const spa = await createCodeClient(s, { isPublic: true, allowedOrigins: [ORIGIN_B] });
  const user = await createUser(s);
  const jar = new CookieJar();
  await signInApp(s, a, ORIGIN_A, user, jar);
  const loginOnly = new CookieJar();
  loginOnly.cookies.set('tessera_login', jar.cookies.get('tessera_login') as string);
  const refreshOnly = new CookieJar();
  refreshOnly.cookies.set(rt(a), jar.cookies.get(rt(a)) as string);
  const form = { grant_type: 'refresh_token', client_id: spa.client_id, refresh_token: 'x'.repeat(43) };
  for (const cookies of [loginOnly, refreshOnly]) {
    assertOAuthError(t, await post(`${s.url}/token`, form, cookies, undefined), 403, 'invalid_request');
    assertOAuthError(t, await post(`${s.url}/token`, form, cookies, ORIGIN_A), 403, 'invalid_request');
    assertOAuthError(
      t,
      await post(`${s.url}/revoke`, { client_id: spa.client_id, token: 'x' }, cookies, undefined),
      403,
      'invalid_request',
    );
    // From the client's own registered origin the request is heard (and fails on its merits).
    assertOAuthError(t, await post(`${s.url}/token`, form, cookies, ORIGIN_B), 400, 'invalid_grant');
  }
  // No cookie, no Origin: a server-side caller, as before.
  assertOAuthError(t, await post(`${s.url}/token`, form, new CookieJar(), undefined), 400, 'invalid_grant');
});

test('N12: answers are shared only with the origins of the client the request names', async (t) => {
  const s = await useServer(t);
  const [a, b] = [await cookieApp(s, ORIGIN_A), await cookieApp(s, ORIGIN_B)];
  const none = new CookieJar();
  // An error for client B, asked from A's origin: A may not read it.
  const forB = await post(
    `${s.url}/token`,
    { grant_type: 'refresh_token', client_id: b.client_id },
    none,
    ORIGIN_A,
  );
  t.is(forB.status, 403);
  t.is(forB.headers.get('access-control-allow-origin'), null);
  // An unknown client and a bad body name no client with origins: shared with nobody.
  const unknown = await post(
    `${s.url}/token`,
    { grant_type: 'refresh_token', client_id: 'c_nobody' },
    none,
    ORIGIN_A,
  );
  t.is(unknown.headers.get('access-control-allow-origin'), null);
  // B's own error, from B's origin: readable by B.
  const own = await post(
    `${s.url}/token`,
    { grant_type: 'password', client_id: b.client_id },
    none,
    ORIGIN_B,
  );
  t.is(own.headers.get('access-control-allow-origin'), ORIGIN_B);
  t.regex(own.headers.get('vary') ?? '', /Origin/);

  // /me: never with credentials; only the token's client's origins; a refused token is shared with nobody.
  const user = await createUser(s);
  const jar = new CookieJar();
  const signed = await signInApp(s, a, ORIGIN_A, user, jar);
  const bearer = { authorization: `Bearer ${signed.body.access_token}` };
  const mine = await getJson(`${s.url}/me`, { ...bearer, origin: ORIGIN_A });
  t.is(mine.status, 200);
  t.is(mine.headers.get('access-control-allow-origin'), ORIGIN_A);
  t.is(mine.headers.get('access-control-allow-credentials'), null);
  const theirs = await getJson(`${s.url}/me`, { ...bearer, origin: ORIGIN_B });
  t.is(theirs.status, 200);
  t.is(theirs.headers.get('access-control-allow-origin'), null);
  const refused = await getJson(`${s.url}/me`, { authorization: 'Bearer nope', origin: ORIGIN_A });
  t.is(refused.status, 401);
  t.is(refused.headers.get('access-control-allow-origin'), null);
});

test('N9: a client id that is not cookie-name safe gets a hashed, distinct cookie name', async (t) => {
  const { browserCookies, cookieSafeClientId } = await import('../../src/http/cookies.js');
  const cookies = browserCookies('https://tessera.test');
  t.is(cookies.refresh('c_AbC-_9').name, '__Host-tessera_rt_c_AbC-_9');
  const url = cookies.refresh('https://app.example/client.json').name;
  t.regex(url, /^__Host-tessera_rt_~[A-Za-z0-9_-]{43}$/);
  t.not(cookieSafeClientId('a;b'), cookieSafeClientId('a,b'));
  t.is(browserCookies('http://localhost:8080').refresh('c_x').name, 'tessera_rt_c_x');
});
