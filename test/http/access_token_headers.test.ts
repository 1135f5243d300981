import test from 'ava';
import { decodeJwt, decodeProtectedHeader, type JWTHeaderParameters, SignJWT } from 'jose';
import { useServer } from '../helpers/app.js';
import { createClient, createUser, passwordLogin } from '../helpers/oauth.js';
import { me } from '../helpers/sessions.js';

type Server = Awaited<ReturnType<typeof useServer>>;

/**
 * Re-signs a real token's claims with the server's own active private key and the given header.
 * Only the header differs from what the server mints, so a refusal can only come from the header
 * check under test, never from the signature.
 */
async function resign(s: Server, token: string, header: Partial<JWTHeaderParameters>) {
  const { signer } = s.services.keys.current();
  return new SignJWT(decodeJwt(token)).setProtectedHeader({ alg: signer.alg, ...header }).sign(signer.key);
}

async function setup(t: Parameters<typeof useServer>[0]) {
  const s = await useServer(t);
  const client = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const user = await createUser(s);
  const res = await passwordLogin(s, client, user.username, user.password);
  const token = res.body.access_token as string;
  const { signer } = s.services.keys.current();
  t.is(decodeProtectedHeader(token).kid, signer.kid, 'minted by the active key');
  // Control: the same claims re-signed with the server's header are accepted, so the key is real.
  const control = await resign(s, token, { kid: signer.kid, typ: 'at+jwt' });
  t.is((await me(s, control)).status, 200, 'correctly re-signed token is accepted');
  return { s, token, kid: signer.kid };
}

async function assertRefused(t: Parameters<typeof useServer>[0], s: Server, token: string, label: string) {
  const res = await me(s, token);
  t.is(res.status, 401, label);
  t.is(res.body.error, 'invalid_token', label);
  t.regex(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/, label);
}

// RFC 9068 §4 and RFC 8725 §3.11: an access token must carry typ at+jwt, so that another kind of JWT
// signed by the same key (an ID token, say) is never accepted as one.
test('signed by the real active key but typ JWT or no typ: refused', async (t) => {
  const { s, token, kid } = await setup(t);
  await assertRefused(t, s, await resign(s, token, { kid, typ: 'JWT' }), 'typ JWT');
  await assertRefused(t, s, await resign(s, token, { kid }), 'no typ');
  await assertRefused(t, s, await resign(s, token, { kid, typ: 'application/jwt' }), 'typ application/jwt');
});

// RFC 8725 §3.1 and docs: a token verifies only against the published key its kid names; an
// unknown or absent kid never falls back to the active key.
test('signed by the real active key but kid unknown or missing: refused', async (t) => {
  const { s, token } = await setup(t);
  await assertRefused(t, s, await resign(s, token, { kid: 'no-such-kid', typ: 'at+jwt' }), 'unknown kid');
  await assertRefused(t, s, await resign(s, token, { typ: 'at+jwt' }), 'no kid');
});

/** Re-signs with the server's real active key after editing the claims; the header stays the server's. */
async function resignClaims(s: Server, token: string, edit: (claims: Record<string, unknown>) => void) {
  const { signer } = s.services.keys.current();
  const claims: Record<string, unknown> = { ...decodeJwt(token) };
  edit(claims);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' })
    .sign(signer.key);
}

// RFC 9068 §4: the issuer and the required claims are checked on every token, even one whose
// signature is good; a token the server never minted in that shape is not an access token.
test('signed by the real active key but wrong issuer or missing or mistyped claims: refused', async (t) => {
  const { s, token } = await setup(t);
  const cases: [string, (c: Record<string, unknown>) => void][] = [
    ['other issuer', (c) => (c.iss = 'https://evil.example.com')],
    ['no issuer', (c) => delete c.iss],
    ['no sub', (c) => delete c.sub],
    ['no exp', (c) => delete c.exp],
    ['no iat', (c) => delete c.iat],
    ['no jti', (c) => delete c.jti],
    ['no client_id', (c) => delete c.client_id],
    ['numeric jti', (c) => (c.jti = 42)],
    ['numeric client_id', (c) => (c.client_id = 42)],
    ['numeric sid', (c) => (c.sid = 42)],
  ];
  for (const [label, edit] of cases) await assertRefused(t, s, await resignClaims(s, token, edit), label);
});

// RFC 8725 §3.10: headers that would let the token name its own key are refused outright, even when
// the signature is the server's own. (`crit` is refused as well, but jose already refuses any
// extension it does not know, so a test token with it cannot even be signed here.)
test('signed by the real active key but carrying jwk, jku, x5u or x5c: refused', async (t) => {
  const { s, token, kid } = await setup(t);
  const jwk = s.services.keys.current().records.find((r) => r.kid === kid)?.publicJwk as object;
  const headers: [string, Record<string, unknown>][] = [
    ['jwk', { jwk }],
    ['jku', { jku: 'https://evil.example.com/jwks.json' }],
    ['x5u', { x5u: 'https://evil.example.com/cert.pem' }],
    ['x5c', { x5c: ['MIIB'] }],
  ];
  for (const [label, extra] of headers) {
    await assertRefused(t, s, await resign(s, token, { kid, typ: 'at+jwt', ...extra }), label);
  }
});
