import test from 'ava';
import { decodeJwt } from 'jose';
import { useServer } from '../helpers/app.js';
import { assertOAuthError, createClient, createUser, passwordLogin } from '../helpers/oauth.js';
import { me, refresh } from '../helpers/sessions.js';

/**
 * Every refresh is bounded by the client's record as it is now (docs/sessions.md): what the client
 * lost is gone from the next token of every existing family, which keeps what is still allowed;
 * with no audience left the refresh is invalid_grant and the family ends.
 */

type Server = Awaited<ReturnType<typeof useServer>>;

const API = 'https://api.example.com';
const OTHER = 'https://other.example.com';

async function login(s: Server, audiences = [API, OTHER]) {
  const client = await createClient(s, {
    name: 'app',
    scopes: ['read', 'write'],
    audiences,
    grantTypes: ['password', 'refresh_token'],
  });
  const user = await createUser(s);
  const res = await passwordLogin(s, client, user.username, user.password, { scope: 'read write' });
  if (res.status !== 200) throw new Error(JSON.stringify(res.body));
  return { client, access: res.body.access_token as string, refreshToken: res.body.refresh_token as string };
}

const claims = (body: Record<string, unknown>) => decodeJwt(body.access_token as string);

// Both rotation paths: the one-statement one (nothing asked) and the checked one (scope asked).
for (const [path, extra] of [
  ['plain refresh', {}],
  ['refresh asking for a scope', { scope: 'read' }],
] as const) {
  test(`${path}: a scope removed from the client is gone from the next token, for good`, async (t) => {
    const s = await useServer(t);
    const { client, refreshToken } = await login(s);
    await s.services.clientAccounts.update(client.client_id, { scopes: ['read'] });
    const next = await refresh(s, client, refreshToken, extra);
    t.is(next.status, 200, JSON.stringify(next.body));
    t.is(next.body.scope, 'read');
    t.is(claims(next.body).scope, 'read');
    // Given back to the client later, the scope does not come back to the family.
    await s.services.clientAccounts.update(client.client_id, { scopes: ['read', 'write'] });
    const after = await refresh(s, client, next.body.refresh_token as string);
    t.is(after.body.scope, 'read');
  });

  test(`${path}: an audience removed from the client is gone; none left ends the family`, async (t) => {
    const s = await useServer(t);
    const { client, access, refreshToken } = await login(s);
    await s.services.clientAccounts.update(client.client_id, { audiences: [API] });
    const next = await refresh(s, client, refreshToken, extra);
    t.is(next.status, 200, JSON.stringify(next.body));
    t.is(claims(next.body).aud, API);
    await s.services.clientAccounts.update(client.client_id, { audiences: ['https://new.example.com'] });
    assertOAuthError(
      t,
      await refresh(s, client, next.body.refresh_token as string, extra),
      400,
      'invalid_grant',
    );
    const family = await s.services
      .db('refresh_families')
      .where({ id: decodeJwt(access).sid })
      .first();
    t.is(family.revoked_reason, 'client_changed');
  });
}

test('asking for a scope the client lost is invalid_scope and costs no token', async (t) => {
  const s = await useServer(t);
  const { client, refreshToken } = await login(s);
  await s.services.clientAccounts.update(client.client_id, { scopes: ['read'] });
  assertOAuthError(t, await refresh(s, client, refreshToken, { scope: 'write' }), 400, 'invalid_scope');
  t.is((await refresh(s, client, refreshToken)).status, 200, 'the token was not spent');
});

test('a family ended for want of an audience stops its live access tokens', async (t) => {
  const s = await useServer(t);
  // The ISSUER among them, so /me accepts the access token while the family lives.
  const { client, access, refreshToken } = await login(s, [s.services.config.issuer, API]);
  t.is((await me(s, access)).status, 200);
  await s.services.clientAccounts.update(client.client_id, { audiences: ['https://new.example.com'] });
  assertOAuthError(t, await refresh(s, client, refreshToken), 400, 'invalid_grant');
  t.is((await me(s, access)).status, 401);
});
