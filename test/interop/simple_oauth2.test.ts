import test from 'ava';
import { decodeJwt } from 'jose';
import { ClientCredentials, ResourceOwnerPassword } from 'simple-oauth2';
import { useServer } from '../helpers/app.js';
import { createClient, createUser, getJson } from '../helpers/oauth.js';

// simple-oauth2 (lelylan) drives the password, refresh, revoke and client_credentials flows.
test('simple-oauth2: password grant, refresh rotation, revocation, client_credentials', async (t) => {
  const s = await useServer(t);
  const registered = await createClient(s, {
    name: 'simple-oauth2',
    grantTypes: ['password', 'refresh_token', 'client_credentials'],
    scopes: ['read', 'write'],
  });
  const user = await createUser(s);
  const config = {
    client: { id: registered.client_id, secret: registered.client_secret as string },
    auth: { tokenHost: s.url, tokenPath: '/token', revokePath: '/revoke' },
  };

  const password = new ResourceOwnerPassword(config);
  const first = await password.getToken({
    username: user.username,
    password: user.password,
    scope: 'read write',
  });
  const firstRefresh = first.token.refresh_token as string;
  t.is(first.token.token_type, 'Bearer');
  t.is(typeof firstRefresh, 'string');
  t.false(first.expired());
  t.is((await getJson(`${s.url}/me`, { authorization: `Bearer ${first.token.access_token}` })).status, 200);

  // Refresh (downscoped): a new refresh token, same session.
  const second = await first.refresh({ scope: 'read' });
  t.is(second.token.scope, 'read');
  t.not(second.token.refresh_token, firstRefresh);
  t.is(decodeJwt(second.token.access_token as string).sid, decodeJwt(first.token.access_token as string).sid);

  // The library revokes the refresh token (RFC 7009): the session and its access tokens end.
  await second.revoke('refresh_token');
  const err = await t.throwsAsync(second.refresh());
  t.is((err as { output?: { statusCode?: number } }).output?.statusCode, 400);
  t.is((await getJson(`${s.url}/me`, { authorization: `Bearer ${second.token.access_token}` })).status, 401);

  const cc = await new ClientCredentials(config).getToken({ scope: 'write' });
  t.is(cc.token.scope, 'write');
  t.is(cc.token.refresh_token, undefined);
});
