import test from 'ava';
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import { HmacDpopNonces, NONCE_WINDOW_S } from '../../src/dpop/nonce.js';
import {
  DpopProofVerifier,
  IAT_WINDOW_S,
  MAX_PROOF_LENGTH,
  ProofRejected,
  type ProofRejection,
  type ProofRequest,
} from '../../src/dpop/proof.js';
import { MemoryReplayCache } from '../../src/dpop/replay.js';
import { EventBus } from '../../src/events.js';
import { testClock } from '../helpers/app.js';
import { dpopKey, type ProofOptions, proof } from '../helpers/dpop.js';

// Every RFC 9449 §4.3 check, one test each, on hand-made proofs (jose), with an injected clock.
const HTU = 'https://tessera.test/token';
const KEK = new Uint8Array(32).fill(7);

function setup(start = Date.now()) {
  const clock = testClock(start);
  const nonces = new HmacDpopNonces(KEK, clock.now);
  const verifier = new DpopProofVerifier({
    replay: new MemoryReplayCache(clock.now),
    nonces,
    now: clock.now,
    events: new EventBus(),
  });
  return { clock, nonces, verifier };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function rejected(
  t: import('ava').ExecutionContext,
  verifier: DpopProofVerifier,
  request: ProofRequest,
  reason: ProofRejection,
) {
  const err = await t.throwsAsync(verifier.verify(request), { instanceOf: ProofRejected });
  t.is(err?.reason, reason);
}

const req = (p: string, over: Partial<ProofRequest> = {}): ProofRequest => ({
  headers: [p],
  method: 'POST',
  uri: HTU,
  ...over,
});

async function signed(o: Partial<ProofOptions> = {}) {
  const key = await dpopKey();
  return { key, p: await proof(key, { htu: HTU, ...o }) };
}

test('a correct proof yields the RFC 7638 thumbprint of its key', async (t) => {
  const { verifier } = setup();
  const { key, p } = await signed();
  const { jkt } = await verifier.verify(req(p));
  t.is(jkt, await calculateJwkThumbprint(key.publicJwk, 'sha256'));
});

for (const alg of ['ES256', 'EdDSA', 'RS256', 'PS256', 'ES384']) {
  test(`alg ${alg} is accepted`, async (t) => {
    const { verifier } = setup();
    const key = await dpopKey(alg);
    await t.notThrowsAsync(verifier.verify(req(await proof(key, { htu: HTU }))));
  });
}

test('check 1: no header, two headers, an oversized one', async (t) => {
  const { verifier } = setup();
  const { p } = await signed();
  await rejected(t, verifier, req(p, { headers: undefined }), 'missing');
  await rejected(t, verifier, req(p, { headers: [p, p] }), 'multiple');
  await rejected(t, verifier, req(`${p}${'A'.repeat(MAX_PROOF_LENGTH)}`), 'too_large');
  await rejected(t, verifier, req(`${p}, ${p}`), 'malformed');
});

test('check 2: not a JWS', async (t) => {
  const { verifier } = setup();
  await rejected(t, verifier, req('not-a-jwt'), 'malformed');
  await rejected(t, verifier, req('a.b.c'), 'malformed');
});

test('check 4: typ must be dpop+jwt', async (t) => {
  const { verifier } = setup();
  await rejected(t, verifier, req((await signed({ header: { typ: 'JWT' } })).p), 'typ');
  await rejected(t, verifier, req((await signed({ header: { typ: 'at+jwt' } })).p), 'typ');
});

test('check 5: alg none and HS256 are refused', async (t) => {
  const { verifier } = setup();
  const key = await dpopKey();
  const payload = { htm: 'POST', htu: HTU, iat: Math.floor(Date.now() / 1000), jti: 'x1' };
  const none = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk })}.${b64(payload)}.AAAA`;
  await rejected(t, verifier, req(none), 'alg');
  const secret = new Uint8Array(32).fill(1);
  const hs = await new SignJWT(payload)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'AQ' } } as never)
    .sign(secret);
  await rejected(t, verifier, req(hs), 'alg');
});

test('check 6: the jwk must be a public asymmetric key, present and well-formed', async (t) => {
  const { verifier } = setup();
  const key = await dpopKey();
  const privateJwk = await exportJWK(key.privateKey);
  await rejected(t, verifier, req(await proof(key, { htu: HTU, header: { jwk: privateJwk } })), 'jwk');
  await rejected(t, verifier, req(await proof(key, { htu: HTU, header: { jwk: undefined } })), 'jwk');
  await rejected(t, verifier, req(await proof(key, { htu: HTU, header: { jwk: 'key' } })), 'jwk');
  await rejected(
    t,
    verifier,
    req(await proof(key, { htu: HTU, header: { jwk: { kty: 'oct', k: 'AQ' } } })),
    'jwk',
  );
  const { x: _x, ...broken } = key.publicJwk;
  await rejected(t, verifier, req(await proof(key, { htu: HTU, header: { jwk: broken } })), 'jwk');
});

test('check 7: the signature must verify with the header jwk', async (t) => {
  const { verifier } = setup();
  const key = await dpopKey();
  const other = await dpopKey();
  await rejected(t, verifier, req(await proof(key, { htu: HTU, signWith: other.privateKey })), 'signature');
});

test('check 8: htm must be the request method', async (t) => {
  const { verifier } = setup();
  await rejected(t, verifier, req((await signed({ htm: 'GET' })).p), 'htm');
  await rejected(t, verifier, req((await signed({ htm: 'post' })).p), 'htm');
});

test('check 9: htu must be this URI; query and fragment are ignored, case of host is not significant', async (t) => {
  const { verifier } = setup();
  await rejected(t, verifier, req((await signed({ htu: 'https://evil.test/token' })).p), 'htu');
  await rejected(t, verifier, req((await signed({ htu: 'https://tessera.test/introspect' })).p), 'htu');
  await rejected(t, verifier, req((await signed({ htu: 'http://tessera.test/token' })).p), 'htu');
  await rejected(t, verifier, req((await signed({ claims: { htu: 42 } })).p), 'htu');
  await t.notThrowsAsync(verifier.verify(req((await signed({ htu: `${HTU}?a=1#f` })).p)));
  await t.notThrowsAsync(verifier.verify(req((await signed({ htu: 'https://TESSERA.test:443/token' })).p)));
});

test(`check 11: iat within ${IAT_WINDOW_S} s (and 1 s tolerance) either way`, async (t) => {
  const { verifier, clock } = setup();
  const now = Math.floor(clock.now() / 1000);
  await rejected(t, verifier, req((await signed({ iat: now - IAT_WINDOW_S - 2 })).p), 'iat');
  await rejected(t, verifier, req((await signed({ iat: now + IAT_WINDOW_S + 2 })).p), 'iat');
  await rejected(t, verifier, req((await signed({ claims: { iat: 'now' } })).p), 'claims');
  await t.notThrowsAsync(verifier.verify(req((await signed({ iat: now - IAT_WINDOW_S })).p)));
  await t.notThrowsAsync(verifier.verify(req((await signed({ iat: now + IAT_WINDOW_S })).p)));
});

test('check 12: a jti is accepted once while its proof is acceptable; another key may use the same jti', async (t) => {
  const { verifier, clock } = setup();
  const { key, p } = await signed({ jti: 'once' });
  await verifier.verify(req(p));
  await rejected(t, verifier, req(p), 'replay');
  // A fresh proof reusing the jti is a replay too.
  await rejected(t, verifier, req(await proof(key, { htu: HTU, jti: 'once' })), 'replay');
  await t.notThrowsAsync(verifier.verify(req((await signed({ jti: 'once' })).p)));
  await rejected(t, verifier, req((await signed({ claims: { jti: undefined } })).p), 'claims');
  await rejected(t, verifier, req((await signed({ claims: { jti: 'x'.repeat(300) } })).p), 'claims');
  // Once the proof's iat is out of the window the cache may forget it: it is refused for its iat.
  clock.advance(IAT_WINDOW_S + 2);
  await rejected(t, verifier, req(p), 'iat');
});

test('a refused proof does not use up its jti', async (t) => {
  const { verifier } = setup();
  const key = await dpopKey();
  const bad = await proof(key, { htu: HTU, jti: 'keep', htm: 'GET' });
  await rejected(t, verifier, req(bad), 'htm');
  await t.notThrowsAsync(verifier.verify(req(await proof(key, { htu: HTU, jti: 'keep' }))));
});

test('ath must be the hash of the access token it comes with; the key must be the token’s', async (t) => {
  const { verifier } = setup();
  const key = await dpopKey();
  const jkt = await calculateJwkThumbprint(key.publicJwk, 'sha256');
  const good = await proof(key, { htu: HTU, accessToken: 'token-a' });
  await rejected(t, verifier, req(good, { accessToken: 'token-b' }), 'ath');
  await rejected(t, verifier, req(await proof(key, { htu: HTU }), { accessToken: 'token-a' }), 'ath');
  await rejected(t, verifier, req(good, { accessToken: 'token-a', expectedJkt: 'other' }), 'key_mismatch');
  await t.notThrowsAsync(verifier.verify(req(good, { accessToken: 'token-a', expectedJkt: jkt })));
});

test('nonce: required when asked for; a current or previous window nonce passes, older or forged ones do not', async (t) => {
  const { verifier, nonces, clock } = setup();
  const n0 = nonces.current();
  const at = () => Math.floor(clock.now() / 1000);
  await rejected(t, verifier, req((await signed()).p, { requireNonce: true }), 'nonce');
  await rejected(t, verifier, req((await signed({ nonce: 'forged' })).p, { requireNonce: true }), 'nonce');
  await t.notThrowsAsync(
    verifier.verify(req((await signed({ nonce: n0, iat: at() })).p, { requireNonce: true })),
  );
  clock.advance(NONCE_WINDOW_S);
  await t.notThrowsAsync(
    verifier.verify(req((await signed({ nonce: n0, iat: at() })).p, { requireNonce: true })),
  );
  clock.advance(NONCE_WINDOW_S);
  await rejected(
    t,
    verifier,
    req((await signed({ nonce: n0, iat: at() })).p, { requireNonce: true }),
    'nonce',
  );
  // Another deployment's secret makes other nonces.
  const foreign = new HmacDpopNonces(new Uint8Array(32).fill(9), clock.now).current();
  await rejected(
    t,
    verifier,
    req((await signed({ nonce: foreign, iat: at() })).p, { requireNonce: true }),
    'nonce',
  );
  t.true(nonces.accepts(nonces.current()));
});
