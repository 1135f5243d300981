import type { AddressInfo } from 'node:net';
import test from 'ava';
import { SignJWT } from 'jose';
import { createResourceServer as createExampleApi } from '../../examples/resource-server/server.js';
import { useServer } from '../helpers/app.js';
import { createClient, createResourceServer, createUser, passwordLogin } from '../helpers/oauth.js';

const API = 'https://notes-api.example.test';

test('the resource-server example verifies tokens through JWKS (typ, iss, aud, scopes) and introspects where revocation matters', async (t) => {
  const s = await useServer(t, { issuerFromUrl: true });
  const introspector = await createResourceServer(s, [API]);
  const app = await createClient(s, {
    name: 'notes app',
    grantTypes: ['password', 'refresh_token'],
    scopes: ['read', 'write'],
    audiences: [API, s.url],
  });
  const readOnly = await createClient(s, { name: 'reader', scopes: ['read'], audiences: [API] });
  const elsewhere = await createClient(s, { name: 'other api', scopes: ['read', 'write'] });
  const user = await createUser(s);

  const api = createExampleApi({
    issuer: s.url,
    audience: API,
    introspection: { clientId: introspector.client_id, clientSecret: introspector.client_secret as string },
  }).listen(0, '127.0.0.1');
  t.teardown(() => new Promise<void>((resolve) => api.close(() => resolve())));
  await new Promise((resolve) => api.once('listening', resolve));
  const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  const call = (method: string, path: string, token?: string) =>
    fetch(`${base}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

  const token = String(
    (await passwordLogin(s, app, user.username, user.password, { scope: 'read write' })).body.access_token,
  );
  t.is((await call('GET', '/notes', token)).status, 200);
  t.is((await call('POST', '/notes', token)).status, 201);

  const none = await call('GET', '/notes');
  t.is(none.status, 401);
  t.regex(
    none.headers.get('www-authenticate') ?? '',
    /^Bearer realm="api", resource_metadata="https:\/\/notes-api\.example\.test\/\.well-known\/oauth-protected-resource", DPoP algs="/,
  );
  const metadata = await fetch(`${base}/.well-known/oauth-protected-resource`);
  t.like(await metadata.json(), { resource: API, authorization_servers: [s.url] });
  const garbage = await call('GET', '/notes', 'not.a.jwt');
  t.regex(garbage.headers.get('www-authenticate') ?? '', /error="invalid_token"/);

  const reader = String((await passwordLogin(s, readOnly, user.username, user.password)).body.access_token);
  t.is((await call('GET', '/notes', reader)).status, 200);
  const insufficient = await call('POST', '/notes', reader);
  t.is(insufficient.status, 403);
  t.regex(insufficient.headers.get('www-authenticate') ?? '', /error="insufficient_scope", scope="write"/);

  const foreign = String((await passwordLogin(s, elsewhere, user.username, user.password)).body.access_token);
  t.is((await call('GET', '/notes', foreign)).status, 401, 'a token for another audience');

  // Signed with Tessera's own key but not an access token (typ JWT, like an ID token): refused.
  const { signer } = s.services.keys.current();
  const notAccessToken = await new SignJWT({ client_id: app.client_id, scope: 'read', jti: 'x' })
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
    .setIssuer(s.url)
    .setAudience(API)
    .setSubject(user.id)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signer.key);
  t.is((await call('GET', '/notes', notAccessToken)).status, 401, 'RFC 9068 typ at+jwt is required');

  t.is((await call('POST', '/account/delete', token)).status, 200);
  const logout = await fetch(`${s.url}/logout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  t.is(logout.status, 204);
  t.is((await call('POST', '/account/delete', token)).status, 401, 'introspection sees the logout at once');
  t.is(
    (await call('GET', '/notes', token)).status,
    200,
    'local JWKS verification cannot, until the token expires',
  );
});
