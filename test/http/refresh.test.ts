import test from 'ava';
import { decodeJwt } from 'jose';
import { CLIENT_CACHE_TTL_MS } from '../../src/stores/cached_clients.js';
import { TokenRejected } from '../../src/tokens/access_token.js';
import { testClock, useServer } from '../helpers/app.js';
import { assertOAuthError, createClient, createUser, passwordLogin } from '../helpers/oauth.js';
import { me, refresh } from '../helpers/sessions.js';

type Server = Awaited<ReturnType<typeof useServer>>;

async function login(s: Server, scopes = ['read', 'write']) {
  const client = await createClient(s, {
    name: 'app',
    scopes,
    audiences: ['https://api.example.com', 'https://other.example.com'],
  });
  const user = await createUser(s);
  const res = await passwordLogin(s, client, user.username, user.password);
  if (res.status !== 200) throw new Error(JSON.stringify(res.body));
  return {
    client,
    user,
    access: res.body.access_token as string,
    refreshToken: res.body.refresh_token as string,
  };
}

test('password grant: refresh_token only for clients allowed it, sid always present', async (t) => {
  const s = await useServer(t);
  const { access, refreshToken } = await login(s);
  t.regex(refreshToken, /^[A-Za-z0-9_-]{43}$/);
  const sid = decodeJwt(access).sid;
  t.is(typeof sid, 'string');
  // Stored only as a digest.
  const rows = await s.services.db('refresh_tokens').where({ family_id: sid });
  t.is(rows.length, 1);
  t.not(rows[0].token_hash, refreshToken);

  const noRefresh = await createClient(s, { name: 'pw-only', grantTypes: ['password'] });
  const user = await createUser(s);
  const res = await passwordLogin(s, noRefresh, user.username, user.password);
  t.is(res.status, 200);
  t.false('refresh_token' in res.body);
  t.is(typeof decodeJwt(res.body.access_token as string).sid, 'string');
  assertOAuthError(t, await refresh(s, noRefresh, refreshToken), 400, 'unauthorized_client');
});

test('rotation chain of 5: each token works once, same sid, new token each time', async (t) => {
  const s = await useServer(t);
  const { client, user, access, refreshToken } = await login(s);
  const sid = decodeJwt(access).sid;
  let current = refreshToken;
  const seen = new Set([current]);
  for (let i = 0; i < 5; i++) {
    const res = await refresh(s, client, current);
    t.is(res.status, 200, JSON.stringify(res.body));
    t.is(res.headers.get('cache-control'), 'no-store');
    t.is(res.body.token_type, 'Bearer');
    t.is(res.body.scope, 'read write');
    const claims = decodeJwt(res.body.access_token as string);
    t.is(claims.sid, sid);
    t.is(claims.sub, user.id);
    t.is(claims.username, user.username);
    const next = res.body.refresh_token as string;
    t.false(seen.has(next));
    seen.add(next);
    current = next;
  }
  const tokens = await s.services.db('refresh_tokens').where({ family_id: sid });
  t.is(tokens.length, 6);
  t.is(tokens.filter((r: { spent_at: unknown }) => r.spent_at === null).length, 1);
});

test('reuse of the 1st token after the 3rd revokes the family and kills live access tokens', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken: first } = await login(s);
  const r2 = await refresh(s, client, first);
  const r3 = await refresh(s, client, r2.body.refresh_token as string);
  t.is(r3.status, 200);
  const live = r3.body.access_token as string;
  // The token is for the client's APIs, not for Tessera's /me: its liveness is the verifier's answer.
  t.is((await s.services.verifier.verify(live)).sid, decodeJwt(live).sid as string);

  const reuse = await refresh(s, client, first);
  assertOAuthError(t, reuse, 400, 'invalid_grant');
  // The live access token of that session fails at once, and the latest refresh token too.
  const after = await t.throwsAsync(s.services.verifier.verify(live), { instanceOf: TokenRejected });
  t.is(after?.reason, 'revoked');
  assertOAuthError(t, await refresh(s, client, r3.body.refresh_token as string), 400, 'invalid_grant');
  const family = await s.services
    .db('refresh_families')
    .where({ id: decodeJwt(live).sid })
    .first();
  t.is(family.revoked_reason, 'refresh_reuse');
  const record = await s.services.db('revocations').where({ kind: 'sid', value: family.id }).first();
  t.truthy(record);
});

test('reuse emits refresh.reuse_detected with the family id, never the token', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  const seen: unknown[] = [];
  s.services.events.on('refresh.reuse_detected', (e) => seen.push(e));
  await refresh(s, client, refreshToken);
  await refresh(s, client, refreshToken);
  t.is(seen.length, 1);
  t.false(JSON.stringify(seen).includes(refreshToken));
});

test('50 parallel refreshes with one token: exactly one 200, 49 invalid_grant', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  const results = await Promise.all(Array.from({ length: 50 }, () => refresh(s, client, refreshToken)));
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 400 && r.body.error === 'invalid_grant');
  t.is(ok.length, 1, JSON.stringify(results.filter((r) => r.status !== 200 && r.status !== 400)[0]?.body));
  t.is(refused.length, 49);
});

test('leeway off: the previous token presented again is reuse', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  const r1 = await refresh(s, client, refreshToken);
  t.is(r1.status, 200);
  assertOAuthError(t, await refresh(s, client, refreshToken), 400, 'invalid_grant');
  assertOAuthError(t, await refresh(s, client, r1.body.refresh_token as string), 400, 'invalid_grant');
});

test('leeway on: only the immediately previous token, within the window, yields a new child', async (t) => {
  const clock = testClock();
  const s = await useServer(t, { now: clock.now, env: { REFRESH_REUSE_LEEWAY: '30s' } });
  const { client, refreshToken: t0 } = await login(s);
  let leewayEvents = 0;
  s.services.events.on('refresh.leeway_used', () => leewayEvents++);
  const r1 = await refresh(s, client, t0);
  t.is(r1.status, 200);
  clock.advance(10);
  // The response of r1 was "lost": the client retries with t0 and gets another child.
  const retry = await refresh(s, client, t0);
  t.is(retry.status, 200, JSON.stringify(retry.body));
  t.is(leewayEvents, 1);
  t.is(decodeJwt(retry.body.access_token as string).sid, decodeJwt(r1.body.access_token as string).sid);
  const t2 = retry.body.refresh_token as string;
  // The chain continues from the retry.
  const r3 = await refresh(s, client, t2);
  t.is(r3.status, 200);
  // t0 is no longer the immediately previous token: reuse, family revoked.
  assertOAuthError(t, await refresh(s, client, t0), 400, 'invalid_grant');
  assertOAuthError(t, await refresh(s, client, r3.body.refresh_token as string), 400, 'invalid_grant');
});

test('leeway on: outside the window it is reuse; per-client override of 0 disables it', async (t) => {
  const clock = testClock();
  const s = await useServer(t, { now: clock.now, env: { REFRESH_REUSE_LEEWAY: '30s' } });
  const { client, refreshToken } = await login(s);
  const r1 = await refresh(s, client, refreshToken);
  clock.advance(31);
  assertOAuthError(t, await refresh(s, client, refreshToken), 400, 'invalid_grant');
  assertOAuthError(t, await refresh(s, client, r1.body.refresh_token as string), 400, 'invalid_grant');

  const strict = await login(s);
  await s.services.db('clients').where({ id: strict.client.client_id }).update({ refresh_reuse_leeway: 0 });
  // A changed client record is seen once the cached copy expires (stores/cached_clients.ts).
  clock.advance(CLIENT_CACHE_TTL_MS / 1000 + 1);
  const s1 = await refresh(s, strict.client, strict.refreshToken);
  t.is(s1.status, 200);
  assertOAuthError(t, await refresh(s, strict.client, strict.refreshToken), 400, 'invalid_grant');
});

test('idle expiry per token, with an injected clock', async (t) => {
  const clock = testClock();
  const s = await useServer(t, {
    now: clock.now,
    env: { REFRESH_TOKEN_IDLE_TTL: '1h', REFRESH_TOKEN_MAX_AGE: '1d' },
  });
  const { client, refreshToken } = await login(s);
  clock.advance(3599);
  const r1 = await refresh(s, client, refreshToken);
  t.is(r1.status, 200);
  // The child gets a fresh idle window...
  clock.advance(3599);
  const r2 = await refresh(s, client, r1.body.refresh_token as string);
  t.is(r2.status, 200);
  // ...but one unused past it expires.
  clock.advance(3601);
  assertOAuthError(t, await refresh(s, client, r2.body.refresh_token as string), 400, 'invalid_grant');
});

test('absolute family expiry is never extended by rotation', async (t) => {
  const clock = testClock();
  const s = await useServer(t, {
    now: clock.now,
    env: { REFRESH_TOKEN_IDLE_TTL: '1h', REFRESH_TOKEN_MAX_AGE: '2h' },
  });
  const { client, refreshToken } = await login(s);
  let current = refreshToken;
  for (let i = 0; i < 4; i++) {
    clock.advance(1700);
    const res = await refresh(s, client, current);
    t.is(res.status, 200, `rotation ${i}`);
    current = res.body.refresh_token as string;
  }
  // 6800 s in; the last token was issued at 6800 s but the family ends at 7200 s.
  clock.advance(401);
  assertOAuthError(t, await refresh(s, client, current), 400, 'invalid_grant');
});

test('scope on refresh: downscoping works, omitted keeps the original, superset is invalid_scope', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  const down = await refresh(s, client, refreshToken, { scope: 'read' });
  t.is(down.status, 200);
  t.is(down.body.scope, 'read');
  t.is(decodeJwt(down.body.access_token as string).scope, 'read');
  // The family keeps its original grant: a later refresh without scope gets it all back (RFC 6749 §6).
  const again = await refresh(s, client, down.body.refresh_token as string);
  t.is(again.body.scope, 'read write');
  const current = again.body.refresh_token as string;
  assertOAuthError(t, await refresh(s, client, current, { scope: 'read delete' }), 400, 'invalid_scope');
  assertOAuthError(t, await refresh(s, client, current, { scope: 'a"b' }), 400, 'invalid_scope');
  // A refused scope does not spend the token.
  t.is((await refresh(s, client, current)).status, 200);
});

test('scope on refresh is bounded by the login, not by the client', async (t) => {
  const s = await useServer(t);
  const client = await createClient(s, { name: 'narrow', scopes: ['read', 'write'] });
  const user = await createUser(s);
  const res = await passwordLogin(s, client, user.username, user.password, { scope: 'read' });
  assertOAuthError(
    t,
    await refresh(s, client, res.body.refresh_token as string, { scope: 'read write' }),
    400,
    'invalid_scope',
  );
});

test('resource on refresh narrows to one of the family audiences', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  const res = await refresh(s, client, refreshToken, { resource: 'https://other.example.com' });
  t.is(res.status, 200);
  t.is(decodeJwt(res.body.access_token as string).aud, 'https://other.example.com');
  assertOAuthError(
    t,
    await refresh(s, client, res.body.refresh_token as string, { resource: 'https://evil.example.com' }),
    400,
    'invalid_target',
  );
});

test('a plain refresh keeps every audience of the login, through the scoped and plain paths', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  const both = ['https://api.example.com', 'https://other.example.com'];
  // Without scope or resource (the one-statement rotation) and with a scope (the locked transaction).
  const plain = await refresh(s, client, refreshToken);
  t.is(plain.status, 200);
  t.deepEqual(decodeJwt(plain.body.access_token as string).aud, both);
  const scoped = await refresh(s, client, plain.body.refresh_token as string, { scope: 'read' });
  t.is(scoped.status, 200);
  t.deepEqual(decodeJwt(scoped.body.access_token as string).aud, both);
});

test("another client's refresh token is invalid_grant and has no effect", async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  const other = await createClient(s, { name: 'other' });
  assertOAuthError(t, await refresh(s, other, refreshToken), 400, 'invalid_grant');
  const spa = await createClient(s, { name: 'spa', isPublic: true });
  assertOAuthError(t, await refresh(s, spa, refreshToken), 400, 'invalid_grant');
  // The owner's token is untouched.
  t.is((await refresh(s, client, refreshToken)).status, 200);
});

test('public clients refresh with client_id only', async (t) => {
  const s = await useServer(t);
  const spa = await createClient(s, { name: 'spa', isPublic: true });
  const user = await createUser(s);
  const { postForm } = await import('../helpers/oauth.js');
  const res = await postForm(`${s.url}/token`, {
    grant_type: 'password',
    username: user.username,
    password: user.password,
    client_id: spa.client_id,
  });
  const r1 = await refresh(s, spa, res.body.refresh_token as string);
  t.is(r1.status, 200);
});

test('garbage, unknown and missing refresh tokens', async (t) => {
  const s = await useServer(t);
  const { client } = await login(s);
  assertOAuthError(t, await refresh(s, client, 'x'.repeat(43)), 400, 'invalid_grant');
  assertOAuthError(t, await refresh(s, client, '%%%'), 400, 'invalid_grant');
  assertOAuthError(t, await refresh(s, client, 'a'.repeat(5000)), 400, 'invalid_grant');
  const { postForm, basic } = await import('../helpers/oauth.js');
  const missing = await postForm(
    `${s.url}/token`,
    { grant_type: 'refresh_token' },
    { authorization: basic(client.client_id, client.client_secret as string) },
  );
  assertOAuthError(t, missing, 400, 'invalid_request');
});

test('session cap: a new login evicts the oldest live family and its access tokens', async (t) => {
  const s = await useServer(t, { env: { MAX_SESSIONS_PER_USER: '2' } });
  const client = await createClient(s, { name: 'cap' });
  const user = await createUser(s);
  const logins = [];
  for (let i = 0; i < 3; i++) logins.push(await passwordLogin(s, client, user.username, user.password));
  const [oldest, second, newest] = logins as [(typeof logins)[0], (typeof logins)[0], (typeof logins)[0]];
  t.is((await me(s, oldest.body.access_token as string)).status, 401);
  assertOAuthError(t, await refresh(s, client, oldest.body.refresh_token as string), 400, 'invalid_grant');
  t.is((await me(s, second.body.access_token as string)).status, 200);
  t.is((await refresh(s, client, second.body.refresh_token as string)).status, 200);
  t.is((await refresh(s, client, newest.body.refresh_token as string)).status, 200);
  const live = await s.services.db('refresh_families').where({ user_id: user.id }).whereNull('revoked_at');
  t.is(live.length, 2);
});
