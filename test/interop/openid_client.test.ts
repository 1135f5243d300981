import test from 'ava';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { useServer } from '../helpers/app.js';
import { createClient, createUser } from '../helpers/oauth.js';

// A real, widely used OAuth client library drives the server end to end (STYLE: fosite's interop tests).
test('openid-client: RFC 8414 discovery (algorithm oauth2), password grant, protected resource', async (t) => {
  const s = await useServer(t, { issuerFromUrl: true });
  const registered = await createClient(s, {
    name: 'interop',
    grantTypes: ['password', 'refresh_token', 'client_credentials'],
    scopes: ['read', 'write'],
    canIntrospect: true,
  });
  const user = await createUser(s);

  const config = await oidc.discovery(
    new URL(s.url),
    registered.client_id,
    registered.client_secret,
    undefined,
    {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    },
  );
  t.is(config.serverMetadata().issuer, s.url);
  t.is(config.serverMetadata().token_endpoint, `${s.url}/token`);

  const tokens = await oidc.genericGrantRequest(config, 'password', {
    username: user.username,
    password: user.password,
    scope: 'read',
  });
  t.is(tokens.token_type, 'bearer');
  t.is(tokens.scope, 'read');
  t.is(typeof tokens.access_token, 'string');
  t.true((tokens.expiresIn() ?? 0) > 0);

  const res = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(`${s.url}/me`), 'GET');
  t.is(res.status, 200);
  const me = (await res.json()) as Record<string, unknown>;
  t.is(me.username, user.username);

  // Refresh rotation, then RFC 7009 revocation and RFC 7662 introspection through the library.
  t.truthy(tokens.refresh_token);
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
  t.not(refreshed.refresh_token, tokens.refresh_token);
  await oidc.tokenRevocation(config, refreshed.refresh_token as string, { token_type_hint: 'refresh_token' });
  const replay = await t.throwsAsync(oidc.refreshTokenGrant(config, refreshed.refresh_token as string));
  t.is((replay as oidc.ResponseBodyError).error, 'invalid_grant');
  const introspection = await oidc.tokenIntrospection(config, refreshed.access_token);
  t.false(introspection.active, 'revoking the session ended its access tokens');

  const cc = await oidc.clientCredentialsGrant(config, { scope: 'write' });
  t.is(cc.scope, 'write');
  t.is(cc.refresh_token, undefined);

  // A wrong password surfaces as the RFC error code through the library.
  const err = await t.throwsAsync(
    oidc.genericGrantRequest(config, 'password', { username: user.username, password: 'wrong-password' }),
  );
  t.is((err as oidc.ResponseBodyError).error, 'invalid_grant');
});

// docs/client-libraries.md: Tessera is not an OpenID Provider, so OpenID discovery (the libraries'
// default) finds nothing, and the RFC 8414 mode of each library is what works.
test('openid-client and oauth4webapi: default OpenID discovery is a 404, algorithm oauth2 finds the metadata', async (t) => {
  const s = await useServer(t, { issuerFromUrl: true });
  const oidcConfig = await fetch(`${s.url}/.well-known/openid-configuration`);
  t.is(oidcConfig.status, 404);

  const refused = await t.throwsAsync(
    oidc.discovery(new URL(s.url), 'any-client', 'any-secret', undefined, {
      execute: [oidc.allowInsecureRequests],
    }),
  );
  t.regex(
    String((refused as Error & { code?: string }).code ?? refused?.message),
    /NOT_CONFORM|status code/i,
  );

  const issuer = new URL(s.url);
  const response = await oauth.discoveryRequest(issuer, {
    algorithm: 'oauth2',
    [oauth.allowInsecureRequests]: true,
  });
  const as = await oauth.processDiscoveryResponse(issuer, response);
  t.is(as.issuer, s.url);
  t.is(as.token_endpoint, `${s.url}/token`);
  t.is(as.introspection_endpoint, `${s.url}/introspect`);
});
