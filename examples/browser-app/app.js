// A browser app that signs in with Tessera: authorization code flow with PKCE (RFC 7636), the
// access token held in memory only, the refresh token in Tessera's HttpOnly cookie (cookie mode),
// so nothing a script can read outlives the page and no XSS can steal a long-lived credential.
const config = await (await fetch('/config.json')).json();
const issuer = config.issuer.replace(/\/$/, '');
let accessToken = null;

const $ = (id) => document.getElementById(id);
const show = (state, status, output) => {
  document.body.dataset.state = state;
  $('status').textContent = status;
  if (output !== undefined) $('output').textContent = typeof output === 'string' ? output : JSON.stringify(output, null, 2);
};

const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const randomString = (n) => base64url(crypto.getRandomValues(new Uint8Array(n)));

async function pkcePair() {
  const verifier = randomString(32);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

/** Leaves for Tessera's /authorize; the verifier and state wait in sessionStorage for the way back. */
async function signIn() {
  const { verifier, challenge } = await pkcePair();
  const state = randomString(16);
  sessionStorage.setItem('tessera.pending', JSON.stringify({ verifier, state }));
  const url = new URL(`${issuer}/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: config.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url);
}

/** POST /token with the cookie: Tessera sets or reads the refresh cookie, the body has the access token. */
async function tokenRequest(params) {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    credentials: 'include',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: config.clientId, ...params }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${body.error}: ${body.error_description}`);
  accessToken = body.access_token;
  return body;
}

/** The redirect back from /authorize: check state and iss (RFC 9207), then redeem the code. */
async function finishSignIn(params) {
  history.replaceState(null, '', '/'); // the code leaves the address bar and the history
  const pending = JSON.parse(sessionStorage.getItem('tessera.pending') ?? 'null');
  sessionStorage.removeItem('tessera.pending');
  if (!pending || params.get('state') !== pending.state) throw new Error('state mismatch: not our sign-in');
  if (params.get('iss') !== config.issuer) throw new Error('issuer mismatch (RFC 9207)');
  if (params.has('error')) throw new Error(`${params.get('error')}: ${params.get('error_description') ?? ''}`);
  return tokenRequest({
    grant_type: 'authorization_code',
    code: params.get('code'),
    redirect_uri: config.redirectUri,
    code_verifier: pending.verifier,
  });
}

async function callMe() {
  const res = await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  const body = await res.json();
  show('signed-in', res.ok ? `Signed in as ${body.username}` : `GET /me: ${res.status}`, body);
}

async function refresh() {
  const tokens = await tokenRequest({ grant_type: 'refresh_token' });
  show('signed-in', 'Token refreshed through the cookie', { expires_in: tokens.expires_in, scope: tokens.scope, refresh_token_in_body: 'refresh_token' in tokens });
}

/**
 * Ends this app's session (the bearer token's, or the cookie's when the token is gone) and, since
 * the browser sends the login cookie to a same-site Tessera, the login session too
 * (docs/browser-apps.md "Logging out"). Other apps' cookies stay.
 */
async function logout() {
  await fetch(`${issuer}/logout`, {
    method: 'POST',
    credentials: 'include',
    headers: accessToken ? { authorization: `Bearer ${accessToken}` } : {},
    body: new URLSearchParams({ client_id: config.clientId }),
  });
  accessToken = null;
  show('signed-out', 'Signed out', '');
}

const guarded = (fn) => () => fn().catch((err) => show(accessToken ? 'signed-in' : 'signed-out', err.message));
$('sign-in').addEventListener('click', guarded(signIn));
$('call-me').addEventListener('click', guarded(callMe));
$('refresh').addEventListener('click', guarded(refresh));
$('logout').addEventListener('click', guarded(logout));

// On load: the way back from /authorize, or a silent refresh through the cookie (a reload keeps
// the user signed in without anything in storage).
try {
  const params = new URLSearchParams(location.search);
  if (params.has('code') || params.has('error')) await finishSignIn(params);
  else await tokenRequest({ grant_type: 'refresh_token' });
  await callMe();
} catch (err) {
  show('signed-out', accessToken ? err.message : 'Signed out', err.message);
}
