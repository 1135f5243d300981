import { execFileSync } from 'node:child_process';
import { KeyObject, sign } from 'node:crypto';
import test from 'ava';
import { compactVerify, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { ACCESS_TOKEN_TYP, checkClaims, TokenRejected } from '../../src/tokens/access_token.js';
import { type FastAlg, signCompact, verifyCompact } from '../../src/tokens/compact_jws.js';

// The node:crypto path of access tokens (src/tokens/compact_jws.ts) against jose and a third-party
// verifier (Python authlib): what it signs verifies everywhere, what jose refuses it refuses.

const ISSUER = 'https://as.example';
const now = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  sub: 'user-1',
  aud: 'https://api.example',
  iat: now(),
  nbf: now(),
  exp: now() + 300,
  jti: 'jti-1',
  client_id: 'c_1',
  ...over,
});
const ALGS: FastAlg[] = ['ES256', 'EdDSA'];
const keysOf = async (alg: FastAlg) =>
  generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });

/** Python authlib's JWT decode with the public JWK: the claims as it reads them, or its error. */
function authlibDecode(token: string, jwk: object, alg: string): Record<string, unknown> {
  const script = `
import json, sys
from authlib.jose import JsonWebToken, JsonWebKey
token, jwk, alg = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
claims = JsonWebToken([alg]).decode(token, JsonWebKey.import_key(jwk))
claims.validate()
print(json.dumps({"header": claims.header, "claims": dict(claims)}))
`;
  return JSON.parse(
    execFileSync('/usr/bin/python3', ['-c', script, token, JSON.stringify(jwk), alg], { encoding: 'utf8' }),
  );
}

for (const alg of ALGS) {
  test(`${alg}: a token signed on the fast path verifies under jose and authlib`, async (t) => {
    const { privateKey, publicKey } = await keysOf(alg);
    const payload = claims({ scope: 'read write', roles: ['a'], cnf: { jkt: 'x' } });
    const token = signCompact({ alg, kid: 'k1', typ: ACCESS_TOKEN_TYP }, payload, privateKey);
    const jose = await jwtVerify(token, publicKey, {
      algorithms: [alg],
      typ: ACCESS_TOKEN_TYP,
      issuer: ISSUER,
    });
    t.deepEqual(jose.payload, payload);
    t.like(jose.protectedHeader, { alg, kid: 'k1', typ: ACCESS_TOKEN_TYP });
    const third = authlibDecode(token, await exportJWK(publicKey), alg);
    t.deepEqual(third.claims, payload);
    // And the other way: what jose signs, the fast verifier accepts.
    const byJose = await new SignJWT(payload)
      .setProtectedHeader({ alg, kid: 'k1', typ: ACCESS_TOKEN_TYP })
      .sign(privateKey);
    const fast = verifyCompact(byJose, alg, publicKey);
    t.true(typeof fast === 'object');
    t.deepEqual(checkClaims(fast as Exclude<typeof fast, string>, ISSUER, now()), payload);
  });

  test(`${alg}: the fast verifier refuses what jose refuses`, async (t) => {
    const { privateKey, publicKey } = await keysOf(alg);
    const other = await keysOf(alg);
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const good = signCompact({ alg, kid: 'k1', typ: ACCESS_TOKEN_TYP }, claims(), privateKey);
    const [h, p, s = ''] = good.split('.');
    const flip = (sig: string) => `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
    // A real signature by the right key over a header that names another alg: only the alg check refuses it.
    const signedAs = (header: object) => {
      const input = `${b64(header)}.${p}`;
      const signature = sign(alg === 'ES256' ? 'sha256' : null, Buffer.from(input), {
        key: KeyObject.from(privateKey),
        dsaEncoding: 'ieee-p1363',
      });
      return `${input}.${signature.toString('base64url')}`;
    };
    const cases: Record<string, string> = {
      'alg none, validly signed': signedAs({ alg: 'none', typ: ACCESS_TOKEN_TYP }),
      'alg HS256, validly signed': signedAs({ alg: 'HS256', typ: ACCESS_TOKEN_TYP }),
      'the other fast alg, validly signed': signedAs({
        alg: alg === 'ES256' ? 'EdDSA' : 'ES256',
        typ: ACCESS_TOKEN_TYP,
      }),
      'alg none': `${b64({ alg: 'none', typ: ACCESS_TOKEN_TYP })}.${p}.`,
      'alg not allowed (HS256)': `${b64({ alg: 'HS256', typ: ACCESS_TOKEN_TYP })}.${p}.${s}`,
      'alg not allowed (the other fast alg)': `${b64({ alg: alg === 'ES256' ? 'EdDSA' : 'ES256', typ: ACCESS_TOKEN_TYP })}.${p}.${s}`,
      'bad signature': `${h}.${p}.${flip(s)}`,
      'signed by another key': signCompact({ alg, typ: ACCESS_TOKEN_TYP }, claims(), other.privateKey),
      'payload changed': `${h}.${b64(claims({ sub: 'admin' }))}.${s}`,
      'signature with padding': `${h}.${p}.${s}=`,
      'signature with a stray character': `${h}.${p}.${s.slice(0, 40)}*${s.slice(40)}`,
      'wrong typ': signCompact({ alg, typ: 'JWT' }, claims(), privateKey),
      'no typ': signCompact({ alg }, claims(), privateKey),
      'iat 5 s in the future': signCompact(
        { alg, typ: ACCESS_TOKEN_TYP },
        claims({ iat: now() + 5 }),
        privateKey,
      ),
      'nbf 5 s in the future': signCompact(
        { alg, typ: ACCESS_TOKEN_TYP },
        claims({ nbf: now() + 5 }),
        privateKey,
      ),
      expired: signCompact({ alg, typ: ACCESS_TOKEN_TYP }, claims({ exp: now() - 5 }), privateKey),
      'wrong issuer': signCompact(
        { alg, typ: ACCESS_TOKEN_TYP },
        claims({ iss: 'https://evil.example' }),
        privateKey,
      ),
      'no jti': signCompact({ alg, typ: ACCESS_TOKEN_TYP }, claims({ jti: undefined }), privateKey),
      'exp not a number': signCompact({ alg, typ: ACCESS_TOKEN_TYP }, claims({ exp: 'soon' }), privateKey),
    };
    for (const [name, token] of Object.entries(cases)) {
      const joseRefuses = await jwtVerify(token, publicKey, {
        algorithms: [alg],
        typ: ACCESS_TOKEN_TYP,
        issuer: ISSUER,
        clockTolerance: 1,
        requiredClaims: ['sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
      }).then(
        (r) => (r.payload.iat as number) > now() + 1, // jose leaves a future iat to the caller
        () => true,
      );
      t.true(joseRefuses, `jose accepts: ${name}`);
      let fastRefuses = false;
      const checked = verifyCompact(token, alg, publicKey);
      if (typeof checked === 'string') fastRefuses = true;
      else {
        try {
          checkClaims(checked, ISSUER, now());
        } catch (err) {
          fastRefuses = err instanceof TokenRejected;
        }
      }
      t.true(fastRefuses, `the fast path accepts: ${name}`);
    }
    // iat/nbf within the 1 s tolerance pass on both.
    const edge = signCompact(
      { alg, typ: ACCESS_TOKEN_TYP },
      claims({ iat: now() + 1, nbf: now() + 1 }),
      privateKey,
    );
    await t.notThrowsAsync(jwtVerify(edge, publicKey, { algorithms: [alg], clockTolerance: 1 }));
    t.notThrows(() => checkClaims(verifyCompact(edge, alg, publicKey) as never, ISSUER, now()));
    await t.throwsAsync(compactVerify(cases['alg none'] as string, publicKey));
  });
}
