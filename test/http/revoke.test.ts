import test from 'ava';
import { decodeJwt } from 'jose';
import { useServer } from '../helpers/app.js';
import {
  assertOAuthError,
  basic,
  clientCredentials,
  createClient,
  createUser,
  passwordLogin,
  postForm,
} from '../helpers/oauth.js';
import { logout, me, refresh, revoke } from '../helpers/sessions.js';

type Server = Awaited<ReturnType<typeof useServer>>;

async function login(s: Server, client?: Awaited<ReturnType<typeof createClient>>) {
  const c =
    client ??
    (await createClient(s, { name: 'app', grantTypes: ['password', 'refresh_token', 'client_credentials'] }));
  const user = await createUser(s);
  const res = await passwordLogin(s, c, user.username, user.password);
  return {
    client: c,
    user,
    access: res.body.access_token as string,
    refreshToken: res.body.refresh_token as string,
  };
}

test('revoking a refresh token ends its family and the live access tokens (200, empty, no-store)', async (t) => {
  const s = await useServer(t);
  const { client, access, refreshToken } = await login(s);
  const r1 = await refresh(s, client, refreshToken);
  const res = await revoke(s, client, r1.body.refresh_token as string, { token_type_hint: 'refresh_token' });
  t.is(res.status, 200);
  t.deepEqual(res.body, {});
  t.is(res.headers.get('cache-control'), 'no-store');
  assertOAuthError(t, await refresh(s, client, r1.body.refresh_token as string), 400, 'invalid_grant');
  t.is((await me(s, access)).status, 401);
  t.is((await me(s, r1.body.access_token as string)).status, 401);
  // Revoking again is still 200 (RFC 7009 §2.2).
  t.is((await revoke(s, client, r1.body.refresh_token as string)).status, 200);
});

test('a wrong hint is only a hint: the token is still found', async (t) => {
  const s = await useServer(t);
  const a = await login(s);
  t.is((await revoke(s, a.client, a.refreshToken, { token_type_hint: 'access_token' })).status, 200);
  assertOAuthError(t, await refresh(s, a.client, a.refreshToken), 400, 'invalid_grant');
  const b = await login(s, a.client);
  t.is((await revoke(s, b.client, b.access, { token_type_hint: 'refresh_token' })).status, 200);
  t.is((await me(s, b.access)).status, 401);
});

test('revoking an access token denylists its jti until exp, not the session', async (t) => {
  const s = await useServer(t);
  const { client, access, refreshToken } = await login(s);
  const res = await revoke(s, client, access);
  t.is(res.status, 200);
  t.is((await me(s, access)).status, 401);
  const row = await s.services
    .db('revocations')
    .where({ kind: 'jti', value: decodeJwt(access).jti })
    .first();
  t.is(new Date(row.expires_at).getTime(), (decodeJwt(access).exp as number) * 1000);
  // The refresh token (the session) still works.
  t.is((await refresh(s, client, refreshToken)).status, 200);
});

test('client_credentials access tokens can be revoked too', async (t) => {
  const s = await useServer(t);
  const client = await createClient(s, { name: 'svc', grantTypes: ['client_credentials'] });
  const tok = await clientCredentials(s, client);
  const access = tok.body.access_token as string;
  t.is((await me(s, access)).status, 200);
  t.is((await revoke(s, client, access)).status, 200);
  t.is((await me(s, access)).status, 401);
});

test('unknown and garbage tokens get 200', async (t) => {
  const s = await useServer(t);
  const { client } = await login(s);
  for (const token of ['x'.repeat(43), 'garbage', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.', '%00'.repeat(10)]) {
    t.is((await revoke(s, client, token)).status, 200, token);
  }
});

test('missing token is invalid_request; an unknown hint is ignored (RFC 7009 §2.1)', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  assertOAuthError(
    t,
    await postForm(
      `${s.url}/revoke`,
      {},
      { authorization: basic(client.client_id, client.client_secret as string) },
    ),
    400,
    'invalid_request',
  );
  // The hint is only a hint: an unknown value neither fails the request nor hides the token.
  const hinted = await revoke(s, client, refreshToken, { token_type_hint: 'id_token' });
  t.is(hinted.status, 200);
  assertOAuthError(t, await refresh(s, client, refreshToken), 400, 'invalid_grant');
});

test('client authentication is required exactly as at /token', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  const bad = await postForm(
    `${s.url}/revoke`,
    { token: refreshToken },
    { authorization: basic(client.client_id, 'wrong') },
  );
  assertOAuthError(t, bad, 401, 'invalid_client');
  t.regex(bad.headers.get('www-authenticate') ?? '', /^Basic /);
  assertOAuthError(t, await postForm(`${s.url}/revoke`, { token: refreshToken }), 401, 'invalid_client');
  t.is((await refresh(s, client, refreshToken)).status, 200);
});

test("another client's tokens: refused (confidential) or ignored (public), never revoked", async (t) => {
  const s = await useServer(t);
  const { client, access, refreshToken } = await login(s);
  const other = await createClient(s, { name: 'other' });
  // RFC 7009 §2.1: refused and told so.
  assertOAuthError(t, await revoke(s, other, refreshToken), 400, 'invalid_request');
  assertOAuthError(t, await revoke(s, other, access), 400, 'invalid_request');
  // A public client proves no identity: same 200 as an unknown token, still no effect.
  const spa = await createClient(s, { name: 'spa', isPublic: true });
  t.is((await revoke(s, spa, refreshToken)).status, 200);
  t.is((await revoke(s, spa, access)).status, 200);
  t.is((await me(s, access)).status, 200);
  t.is((await refresh(s, client, refreshToken)).status, 200);
});

test('revoke and refresh racing on one token never 500 and leave the family revoked', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  const results = await Promise.all([
    ...Array.from({ length: 10 }, () => refresh(s, client, refreshToken)),
    ...Array.from({ length: 10 }, () => revoke(s, client, refreshToken)),
  ]);
  t.true(
    results.every((r) => r.status === 200 || r.status === 400),
    JSON.stringify(results.map((r) => r.status)),
  );
  const winners = results.slice(0, 10).filter((r) => r.status === 200);
  t.true(winners.length <= 1);
  for (const w of winners)
    assertOAuthError(t, await refresh(s, client, w.body.refresh_token as string), 400, 'invalid_grant');
});

test('logout ends the session: 204, access and refresh tokens dead, other sessions live', async (t) => {
  const s = await useServer(t);
  const a = await login(s);
  const other = await passwordLogin(s, a.client, a.user.username, a.user.password);
  const r1 = await refresh(s, a.client, a.refreshToken);
  t.is(await logout(s, a.access), 204);
  t.is((await me(s, a.access)).status, 401);
  t.is((await me(s, r1.body.access_token as string)).status, 401);
  assertOAuthError(t, await refresh(s, a.client, r1.body.refresh_token as string), 400, 'invalid_grant');
  t.is((await me(s, other.body.access_token as string)).status, 200);
  t.is((await refresh(s, a.client, other.body.refresh_token as string)).status, 200);
  // The token used to log out is dead too.
  t.is(await logout(s, a.access), 401);
});

test('logout with a token without sid denylists that token; without a token it is 401', async (t) => {
  const s = await useServer(t);
  const client = await createClient(s, { name: 'svc', grantTypes: ['client_credentials'] });
  const tok = await clientCredentials(s, client);
  t.is(await logout(s, tok.body.access_token as string), 204);
  t.is((await me(s, tok.body.access_token as string)).status, 401);
  const res = await fetch(`${s.url}/logout`, { method: 'POST' });
  t.is(res.status, 401);
  t.regex(res.headers.get('www-authenticate') ?? '', /^Bearer/);
});
