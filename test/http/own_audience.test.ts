import test from 'ava';
import { SignJWT } from 'jose';
import { useServer } from '../helpers/app.js';
import { adminToken } from '../helpers/keys.js';
import { basic, createClient, createUser, getJson, passwordLogin, postForm } from '../helpers/oauth.js';

const API = 'https://api.example.com';

test("a token for another API is refused on Tessera's own endpoints; its session survives", async (t) => {
  const s = await useServer(t);
  const app = await createClient(s, {
    name: 'api app',
    grantTypes: ['password', 'refresh_token', 'client_credentials'],
    audiences: [API],
    isAdmin: true,
  });
  const u = await createUser(s, 'aud');
  const login = await passwordLogin(s, app, u.username, u.password);
  const apiToken = login.body.access_token as string;
  const bearer = { authorization: `Bearer ${apiToken}` };

  const me = await getJson(`${s.url}/me`, bearer);
  t.is(me.status, 401);
  t.is(me.body.error, 'invalid_token');
  t.regex(me.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  // The resource server holding the user's token cannot end the user's session.
  const logout = await postForm(`${s.url}/logout`, '', bearer);
  t.is(logout.status, 401);
  const refreshed = await postForm(
    `${s.url}/token`,
    { grant_type: 'refresh_token', refresh_token: login.body.refresh_token as string },
    { authorization: basic(app.client_id, app.client_secret ?? '') },
  );
  t.is(refreshed.status, 200, 'the session is still alive');
  // An admin client's token without the ISSUER audience is no admin token.
  const cc = await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials', scope: 'admin' },
    { authorization: basic(app.client_id, app.client_secret ?? '') },
  );
  t.is(
    (await getJson(`${s.url}/admin/keys`, { authorization: `Bearer ${cc.body.access_token}` })).status,
    401,
  );
  // Tokens for Tessera itself (the default audience) still work there.
  t.is(
    (await getJson(`${s.url}/admin/keys`, { authorization: `Bearer ${await adminToken(s)}` })).status,
    200,
  );
});

test('a token with iat beyond the 1 s tolerance in the future is refused, even with a valid nbf', async (t) => {
  const s = await useServer(t);
  const app = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const u = await createUser(s, 'future');
  const good = (await passwordLogin(s, app, u.username, u.password)).body.access_token as string;
  const claims = JSON.parse(Buffer.from(good.split('.')[1] as string, 'base64url').toString());
  const { signer } = s.services.keys.current();
  const sign = (iat: number) =>
    new SignJWT({ ...claims, iat, nbf: claims.iat })
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' })
      .sign(signer.key);
  const now = Math.floor(Date.now() / 1000);
  t.is((await getJson(`${s.url}/me`, { authorization: `Bearer ${await sign(now)}` })).status, 200);
  const future = await getJson(`${s.url}/me`, { authorization: `Bearer ${await sign(now + 30)}` });
  t.is(future.status, 401);
  t.is(future.body.error, 'invalid_token');
});

test("/logout and /me say the token's audience is not this server, still as invalid_token", async (t) => {
  const s = await useServer(t);
  const app = await createClient(s, { name: 'api app', grantTypes: ['password'], audiences: [API] });
  const u = await createUser(s, 'aud2');
  const token = (await passwordLogin(s, app, u.username, u.password)).body.access_token as string;
  const logout = await postForm(`${s.url}/logout`, '', { authorization: `Bearer ${token}` });
  t.is(logout.status, 401);
  t.is(logout.body.error, 'invalid_token');
  t.is(logout.body.error_description, "the access token's audience is not this server");
  t.regex(logout.headers.get('www-authenticate') ?? '', /error_description="the access token's audience/);
  // Any other refusal keeps the plain description.
  const forged = await getJson(`${s.url}/me`, { authorization: `Bearer ${token.slice(0, -4)}AAAA` });
  t.is(forged.body.error_description, 'the access token is invalid');
});
