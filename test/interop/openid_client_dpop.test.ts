import test from 'ava';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { type TestServer, useServer } from '../helpers/app.js';
import { CookieJar, createCodeClient, hiddenFields, REDIRECT_URI } from '../helpers/authorize.js';
import { createClient, createUser } from '../helpers/oauth.js';

// openid-client's own DPoP (RFC 9449) against a running Tessera: proofs, bound tokens, the
// protected resource with `Authorization: DPoP`, refresh of a public client, the nonce retry.

async function discover(s: TestServer, clientId: string, secret?: string) {
  return oidc.discovery(new URL(s.url), clientId, secret, secret ? undefined : oidc.None(), {
    algorithm: 'oauth2',
    execute: [oidc.allowInsecureRequests],
  });
}

async function me(config: oidc.Configuration, s: TestServer, access: string, DPoP: oidc.DPoPHandle) {
  const res = await oidc.fetchProtectedResource(
    config,
    access,
    new URL(`${s.url}/me`),
    'GET',
    undefined,
    undefined,
    {
      DPoP,
    },
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

for (const nonce of [false, true]) {
  const label = nonce ? ' (DPOP_NONCE=true: the library retries with the nonce)' : '';
  test(`openid-client DPoP: client_credentials and password grants, /me with DPoP${label}`, async (t) => {
    const s = await useServer(t, { issuerFromUrl: true, env: nonce ? { DPOP_NONCE: 'true' } : {} });
    const registered = await createClient(s, {
      name: 'interop dpop',
      grantTypes: ['password', 'refresh_token', 'client_credentials'],
      scopes: ['read'],
      dpopBoundAccessTokens: true,
    });
    const user = await createUser(s);
    const config = await discover(s, registered.client_id, registered.client_secret);
    t.true(config.serverMetadata().dpop_signing_alg_values_supported?.includes('ES256'));
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));

    const cc = await oidc.clientCredentialsGrant(config, { scope: 'read' }, { DPoP });
    t.is(cc.token_type, 'dpop');
    t.truthy((decodeJwt(cc.access_token).cnf as { jkt?: string }).jkt);
    t.is((await me(config, s, cc.access_token, DPoP)).status, 200);

    const pw = await oidc.genericGrantRequest(
      config,
      'password',
      { username: user.username, password: user.password },
      { DPoP },
    );
    t.is(pw.token_type, 'dpop');
    const mine = await me(config, s, pw.access_token, DPoP);
    t.is(mine.status, 200);
    t.is(mine.body.username, user.username);
    const refreshed = await oidc.refreshTokenGrant(config, pw.refresh_token as string, undefined, { DPoP });
    t.is(refreshed.token_type, 'dpop');

    // The library without its DPoP handle: this client must use DPoP.
    const err = await t.throwsAsync(oidc.clientCredentialsGrant(config, { scope: 'read' }));
    t.is((err as oidc.ResponseBodyError).error, 'invalid_dpop_proof');
  });
}

test('openid-client DPoP: code + PKCE of a public client; its refresh token needs the same key', async (t) => {
  const s = await useServer(t, { issuerFromUrl: true });
  const registered = await createCodeClient(s, { isPublic: true });
  const user = await createUser(s);
  const config = await discover(s, registered.client_id);
  const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));

  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'read write',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const jar = new CookieJar();
  const page = await fetch(url, { redirect: 'manual' });
  jar.store(page.headers);
  const signedIn = await fetch(new URL('/authorize', url), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
    body: new URLSearchParams({ ...hiddenFields(await page.text()), ...user }).toString(),
  });
  const callback = new URL(signedIn.headers.get('location') ?? 'missing:');
  const tokens = await oidc.authorizationCodeGrant(
    config,
    callback,
    { pkceCodeVerifier: verifier, expectedState: state },
    undefined,
    { DPoP },
  );
  t.is(tokens.token_type, 'dpop');
  t.is((await me(config, s, tokens.access_token, DPoP)).status, 200);

  // Another key cannot use the stolen refresh token; the rightful key still can.
  const thief = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
  const stolen = await t.throwsAsync(
    oidc.refreshTokenGrant(config, tokens.refresh_token as string, undefined, { DPoP: thief }),
  );
  t.is((stolen as oidc.ResponseBodyError).error, 'invalid_grant');
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string, undefined, { DPoP });
  t.is(refreshed.token_type, 'dpop');
  t.is((await me(config, s, refreshed.access_token, DPoP)).status, 200);
});
