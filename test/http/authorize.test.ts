import test from 'ava';
import { testClock, useServer } from '../helpers/app.js';
import {
  authorizationRequest,
  CookieJar,
  createCodeClient,
  getAuthorize,
  hiddenFields,
  postAuthorize,
  REDIRECT_URI,
  signIn,
} from '../helpers/authorize.js';
import { assertOAuthError, createUser, getJson, postForm } from '../helpers/oauth.js';

const ISSUER = 'http://tessera.test';

test('without a login session the answer is the login page: labelled fields, CSRF token, strict CSP, no-store', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const { params } = authorizationRequest(client.client_id);
  const page = await getAuthorize(s, params);
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
  t.is(page.headers.get('cache-control'), 'no-store');
  const csp = page.headers.get('content-security-policy') ?? '';
  t.regex(csp, /default-src 'none'/);
  t.regex(csp, /frame-ancestors 'none'/);
  t.regex(csp, /form-action 'self' https:\/\/app\.example\.test/);
  t.notRegex(csp, /unsafe-inline|script-src/);
  t.notRegex(page.html, /<script/i, 'works without JavaScript');
  t.regex(page.html, /<label for="username">Username<\/label>/);
  t.regex(page.html, /<input id="username" name="username"/);
  t.regex(page.html, /<label for="password">Password<\/label>/);
  t.regex(page.html, /<input id="password" name="password" type="password" autocomplete="current-password"/);
  t.regex(page.html, /name="viewport" content="width=device-width, initial-scale=1"/);
  t.regex(page.html, /Notes app/);
  const fields = hiddenFields(page.html);
  t.is(fields.code_challenge, params.code_challenge);
  t.is(fields.state, params.state);
  t.regex(fields.csrf_token ?? '', /^[A-Za-z0-9_-]{43}$/);
  t.is(page.headers.get('x-frame-options'), 'DENY');
});

test('signing in redirects with code, state and iss, and sets an HttpOnly SameSite=Lax login cookie', async (t) => {
  const s = await useServer(t, { env: { LOGIN_SESSION_TTL: '2h' } });
  const client = await createCodeClient(s);
  const user = await createUser(s);
  const { params, state } = authorizationRequest(client.client_id);
  const res = await signIn(s, params, user);
  t.is(res.status, 303);
  t.true(res.location?.startsWith(`${REDIRECT_URI}?`));
  t.regex(res.query.get('code') ?? '', /^[A-Za-z0-9_-]{43}$/);
  t.is(res.query.get('state'), state);
  t.is(res.query.get('iss'), ISSUER);
  t.is(res.headers.get('cache-control'), 'no-store');
  const cookie = res.jar.lastSetCookie('tessera_login') ?? '';
  t.regex(cookie, /HttpOnly/);
  t.regex(cookie, /SameSite=Lax/);
  t.regex(cookie, /Path=\//);
  t.regex(cookie, /Max-Age=7200/);
  t.notRegex(cookie, /Secure/, 'plain-http issuer (development)');
});

test('an https issuer uses __Host- cookies with Secure', async (t) => {
  const s = await useServer(t, { env: { ISSUER: 'https://tessera.test' } });
  const client = await createCodeClient(s);
  const user = await createUser(s);
  const { params } = authorizationRequest(client.client_id);
  const page = await getAuthorize(s, params);
  t.regex(page.headers.getSetCookie().join('\n'), /^__Host-tessera_csrf=[^;]+;.*Secure/m);
  const res = await signIn(s, params, user);
  t.is(res.query.get('iss'), 'https://tessera.test');
  t.regex(res.jar.lastSetCookie('__Host-tessera_login') ?? '', /Secure.*SameSite=Lax|SameSite=Lax.*Secure/);
});

test('while the session lives a code is issued without asking; prompt=login asks anyway; prompt=none', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const user = await createUser(s);
  const jar = new CookieJar();
  await signIn(s, authorizationRequest(client.client_id).params, user, jar);

  const again = authorizationRequest(client.client_id);
  const silent = await getAuthorize(s, again.params, jar);
  t.is(silent.status, 302);
  const back = new URL(silent.location ?? '').searchParams;
  t.truthy(back.get('code'));
  t.is(back.get('state'), again.state);
  t.is(back.get('iss'), ISSUER);

  const asked = await getAuthorize(
    s,
    authorizationRequest(client.client_id, { prompt: 'login' }).params,
    jar,
  );
  t.is(asked.status, 200);
  t.regex(asked.html, /<form method="post"/);

  const none = await getAuthorize(s, authorizationRequest(client.client_id, { prompt: 'none' }).params, jar);
  t.is(none.status, 302);
  t.truthy(new URL(none.location ?? '').searchParams.get('code'));

  const noSession = authorizationRequest(client.client_id, { prompt: 'none' });
  const refused = await getAuthorize(s, noSession.params);
  t.is(refused.status, 302);
  const error = new URL(refused.location ?? '').searchParams;
  t.is(error.get('error'), 'login_required');
  t.is(error.get('state'), noSession.state);
  t.is(error.get('iss'), ISSUER);
});

test('the login session ends at LOGIN_SESSION_TTL and with a password change', async (t) => {
  // Ahead of the database's own clock, which stamps a new user's password_changed_at.
  const clock = testClock(Date.now() + 60_000);
  const s = await useServer(t, { now: clock.now, env: { LOGIN_SESSION_TTL: '10m' } });
  const client = await createCodeClient(s);
  const user = await createUser(s);
  const jar = new CookieJar();
  await signIn(s, authorizationRequest(client.client_id).params, user, jar);
  t.is((await getAuthorize(s, authorizationRequest(client.client_id).params, jar)).status, 302);
  clock.advance(601);
  t.is((await getAuthorize(s, authorizationRequest(client.client_id).params, jar)).status, 200, 'expired');

  const fresh = new CookieJar();
  await signIn(s, authorizationRequest(client.client_id).params, user, fresh);
  clock.advance(1);
  await s.services.userAccounts.setPassword(user.username, 'a brand new passphrase');
  t.is(
    (await getAuthorize(s, authorizationRequest(client.client_id).params, fresh)).status,
    200,
    'password changed',
  );
});

test('an unknown client or a bad redirect_uri gets the error page and never a redirect', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const two = await createCodeClient(s, { redirectUris: [REDIRECT_URI, 'https://app.example.test/other'] });
  const disabled = await createCodeClient(s);
  await s.services.clientAccounts.disable(disabled.client_id);
  const base = authorizationRequest(client.client_id).params;
  const cases: [string, Record<string, string> | string][] = [
    ['missing client_id', { ...base, client_id: '' }],
    ['unknown client', { ...base, client_id: 'c_nobody' }],
    ['disabled client', { ...base, client_id: disabled.client_id }],
    ['unregistered redirect_uri', { ...base, redirect_uri: 'https://evil.example/callback' }],
    ['redirect_uri differing only in a trailing slash', { ...base, redirect_uri: `${REDIRECT_URI}/` }],
    ['omitted redirect_uri with two registered', { ...base, client_id: two.client_id, redirect_uri: '' }],
    ['repeated client_id', `${new URLSearchParams(base)}&client_id=${client.client_id}`],
    [
      'repeated redirect_uri',
      `${new URLSearchParams(base)}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`,
    ],
  ];
  for (const [name, params] of cases) {
    const qs = typeof params === 'string' ? params : new URLSearchParams(params).toString();
    const res = await fetch(`${s.url}/authorize?${qs}`, { redirect: 'manual' });
    t.is(res.status, 400, name);
    t.is(res.headers.get('location'), null, name);
    t.regex(res.headers.get('content-type') ?? '', /text\/html/, name);
    t.regex(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, name);
    t.notRegex(await res.text(), /evil\.example/, name);
  }
  // Exactly one registered: it may be omitted.
  const omitted = await getAuthorize(s, { ...base, redirect_uri: '' });
  t.is(omitted.status, 200);
});

test('every other error redirects with error, state and iss', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s, { audiences: ['https://api.example.test'] });
  const { params } = authorizationRequest(client.client_id);
  const cases: [string, Record<string, string> | string, string][] = [
    ['missing response_type', { ...params, response_type: '' }, 'invalid_request'],
    ['implicit grant', { ...params, response_type: 'token' }, 'unsupported_response_type'],
    ['no PKCE', { ...params, code_challenge: '', code_challenge_method: '' }, 'invalid_request'],
    ['plain PKCE', { ...params, code_challenge_method: 'plain' }, 'invalid_request'],
    ['PKCE method omitted (means plain)', { ...params, code_challenge_method: '' }, 'invalid_request'],
    ['malformed challenge', { ...params, code_challenge: 'short' }, 'invalid_request'],
    ['scope not allowed', { ...params, scope: 'read admin' }, 'invalid_scope'],
    ['unknown resource', { ...params, resource: 'https://other.example.test' }, 'invalid_target'],
    ['unknown prompt', { ...params, prompt: 'select_account' }, 'invalid_request'],
    ['repeated scope', `${new URLSearchParams(params)}&scope=write`, 'invalid_request'],
  ];
  for (const [name, p, error] of cases) {
    const qs = typeof p === 'string' ? p : new URLSearchParams(p).toString();
    const res = await fetch(`${s.url}/authorize?${qs}`, { redirect: 'manual' });
    t.is(res.status, 302, name);
    const location = new URL(res.headers.get('location') ?? 'x:');
    t.is(`${location.origin}${location.pathname}`, REDIRECT_URI, name);
    t.is(location.searchParams.get('error'), error, name);
    t.is(location.searchParams.get('state'), params.state, name);
    t.is(location.searchParams.get('iss'), ISSUER, name);
    t.falsy(location.searchParams.get('code'), name);
  }
});

test('a failed sign-in is one generic answer, byte-identical for an unknown user, a wrong password and a disabled user', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const user = await createUser(s);
  const disabled = await createUser(s, 'dora');
  await s.services.userAccounts.disable(disabled.username);
  const jar = new CookieJar();
  const { params } = authorizationRequest(client.client_id);
  const form = hiddenFields((await getAuthorize(s, params, jar)).html);
  const attempt = async (username: string, password: string) => {
    const res = await postAuthorize(s, { ...form, username, password }, jar);
    return { status: res.status, html: res.html.replaceAll(username, 'USERNAME'), location: res.location };
  };
  const unknown = await attempt('nobody-here', 'whatever password');
  const wrong = await attempt(user.username, 'not the password');
  const off = await attempt(disabled.username, disabled.password);
  t.is(unknown.status, 400);
  t.is(unknown.location, null);
  t.regex(unknown.html, /Incorrect username or password\./);
  t.regex(unknown.html, /role="alert"/);
  t.is(wrong.html, unknown.html);
  t.is(off.html, unknown.html);
  t.is(wrong.status, unknown.status);
  t.is(off.status, unknown.status);
});

test('the login page and the password grant share one throttle: a lockout on one is a lockout on the other', async (t) => {
  const s = await useServer(t, { env: { RATE_LIMIT_LOGIN_FAILURES: '2' } });
  const client = await createCodeClient(s, {
    grantTypes: ['authorization_code', 'refresh_token', 'password'],
  });
  const user = await createUser(s);
  const jar = new CookieJar();
  const form = hiddenFields((await getAuthorize(s, authorizationRequest(client.client_id).params, jar)).html);
  for (let i = 0; i < 2; i++)
    await postAuthorize(s, { ...form, username: user.username, password: 'wrong' }, jar);
  const locked = await postAuthorize(s, { ...form, username: user.username, password: user.password }, jar);
  t.is(locked.status, 429);
  t.truthy(locked.headers.get('retry-after'));
  t.regex(locked.html, /Too many failed sign-in attempts/);
  t.is(locked.location, null);

  const grant = await postForm(
    `${s.url}/token`,
    { grant_type: 'password', username: user.username, password: user.password },
    {
      authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
    },
  );
  assertOAuthError(t, grant, 429, 'rate_limited');
});

test('a login form without its CSRF cookie, or with another token, signs nobody in', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const user = await createUser(s);
  const jar = new CookieJar();
  const form = hiddenFields((await getAuthorize(s, authorizationRequest(client.client_id).params, jar)).html);
  const credentials = { username: user.username, password: user.password };

  const noCookie = await postAuthorize(s, { ...form, ...credentials }, new CookieJar());
  t.is(noCookie.status, 403);
  t.is(noCookie.location, null);
  t.regex(noCookie.html, /expired/);

  const forged = await postAuthorize(s, { ...form, ...credentials, csrf_token: 'A'.repeat(43) }, jar);
  t.is(forged.status, 403);
  t.is(forged.location, null);
  t.is(jar.cookies.get('tessera_login'), undefined);
});

test('the metadata advertises the code flow: authorization_endpoint, response type, S256, iss parameter', async (t) => {
  const s = await useServer(t);
  const res = await getJson(`${s.url}/.well-known/oauth-authorization-server`);
  t.is(res.body.authorization_endpoint, `${ISSUER}/authorize`);
  t.deepEqual(res.body.response_types_supported, ['code']);
  t.deepEqual(res.body.response_modes_supported, ['query']);
  t.deepEqual(res.body.code_challenge_methods_supported, ['S256']);
  t.is(res.body.authorization_response_iss_parameter_supported, true);
  t.true((res.body.grant_types_supported as string[]).includes('authorization_code'));
});
