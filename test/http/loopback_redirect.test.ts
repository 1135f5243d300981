import test from 'ava';
import { useServer } from '../helpers/app.js';
import { authorizationRequest, createCodeClient, getAuthorize, signIn } from '../helpers/authorize.js';
import { assertOAuthError, createUser, postForm } from '../helpers/oauth.js';

// RFC 8252 §7.3 (docs/browser-apps.md): a native app registers its loopback redirect URI once and
// listens on whatever port the system gives it at sign-in.

test('N13: /authorize and /token accept a registered loopback redirect URI with any port', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s, {
    isPublic: true,
    redirectUris: ['http://127.0.0.1:8000/callback', 'http://[::1]/callback'],
  });
  const user = await createUser(s);
  const presented = 'http://127.0.0.1:53682/callback';
  const request = authorizationRequest(client.client_id, { redirect_uri: presented });
  const back = await signIn(s, request.params, user);
  t.true((back.location ?? '').startsWith(`${presented}?`), 'the answer goes to the port presented');
  const redeem = (redirectUri: string) =>
    postForm(`${s.url}/token`, {
      grant_type: 'authorization_code',
      client_id: client.client_id,
      code: back.query.get('code') as string,
      redirect_uri: redirectUri,
      code_verifier: request.pair.verifier,
    });
  // RFC 6749 §4.1.3: /token wants the URI of the authorization request, port included.
  assertOAuthError(t, await redeem('http://127.0.0.1:8000/callback'), 400, 'invalid_grant');
  const ok = await redeem(presented);
  t.is(ok.status, 200, JSON.stringify(ok.body));

  const v6 = await getAuthorize(
    s,
    authorizationRequest(client.client_id, { redirect_uri: 'http://[::1]:40123/callback' }).params,
  );
  t.is(v6.status, 200, 'the login page, not the error page');
});

test('N13: other redirect URIs still match exactly: localhost, another path, another host', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s, {
    isPublic: true,
    redirectUris: ['http://localhost:8000/callback', 'http://127.0.0.1:8000/callback'],
  });
  for (const uri of [
    'http://localhost:9000/callback',
    'http://127.0.0.1:9000/other',
    'http://[::1]:8000/callback',
  ]) {
    const page = await getAuthorize(s, authorizationRequest(client.client_id, { redirect_uri: uri }).params);
    t.is(page.status, 400, uri);
    t.is(page.location, null, `${uri}: never redirected`);
  }
});
