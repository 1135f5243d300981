import test from 'ava';
import * as oidc from 'openid-client';
import { type TestServer, useServer } from '../helpers/app.js';
import { CookieJar, createCodeClient, hiddenFields, REDIRECT_URI } from '../helpers/authorize.js';
import { createUser } from '../helpers/oauth.js';

/** The user's part: the login page at the library's authorization URL, the form posted back. */
async function userSignsIn(url: URL, user: { username: string; password: string }): Promise<URL> {
  const jar = new CookieJar();
  const page = await fetch(url, { redirect: 'manual' });
  jar.store(page.headers);
  const res = await fetch(new URL('/authorize', url), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
    body: new URLSearchParams({ ...hiddenFields(await page.text()), ...user }).toString(),
  });
  return new URL(res.headers.get('location') ?? 'missing:');
}

async function codeFlow(t: import('ava').ExecutionContext, s: TestServer, isPublic: boolean) {
  const registered = await createCodeClient(s, { isPublic });
  const user = await createUser(s);
  const config = await oidc.discovery(
    new URL(s.url),
    registered.client_id,
    registered.client_secret,
    isPublic ? oidc.None() : undefined,
    { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] },
  );
  t.deepEqual(config.serverMetadata().code_challenge_methods_supported, ['S256']);

  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'read write',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const callback = await userSignsIn(url, user);
  // The library checks state and the RFC 9207 `iss` against the discovered issuer.
  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  t.is(tokens.scope, 'read write');
  t.truthy(tokens.refresh_token);
  const me = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(`${s.url}/me`), 'GET');
  t.is(((await me.json()) as { username: string }).username, user.username);

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
  t.not(refreshed.refresh_token, tokens.refresh_token);

  // The same code again: the library surfaces invalid_grant, and the session is gone.
  const replay = await t.throwsAsync(
    oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }),
  );
  t.is((replay as oidc.ResponseBodyError).error, 'invalid_grant');
  const ended = await t.throwsAsync(oidc.refreshTokenGrant(config, refreshed.refresh_token as string));
  t.is((ended as oidc.ResponseBodyError).error, 'invalid_grant');
}

test('openid-client: code flow with PKCE for a confidential client (buildAuthorizationUrl → login → authorizationCodeGrant → refresh)', async (t) => {
  const s = await useServer(t, { issuerFromUrl: true });
  await codeFlow(t, s, false);
});

test('openid-client: code flow with PKCE for a public client (no secret)', async (t) => {
  const s = await useServer(t, { issuerFromUrl: true });
  await codeFlow(t, s, true);
});
