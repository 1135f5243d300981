// DPoP proofs (RFC 9449 §4.2) for the load generator: one ES256 key, a fresh proof (new jti, iat
// now) per request. autocannon's setupRequest is synchronous, so this signs with node:crypto
// directly instead of jose's async API.
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';

export interface ProofSigner {
  /** A proof for `htm` at `htu`; with `accessToken`, its `ath` (RFC 9449 §4.2). */
  proof(htm: string, htu: string, accessToken?: string): string;
}

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

export function es256ProofSigner(): ProofSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const header = b64url(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } }));
  return {
    proof(htm, htu, accessToken) {
      const claims: Record<string, unknown> = {
        jti: randomUUID(),
        htm,
        htu,
        iat: Math.floor(Date.now() / 1000),
      };
      if (accessToken !== undefined)
        claims.ath = createHash('sha256').update(accessToken, 'ascii').digest('base64url');
      const input = `${header}.${b64url(JSON.stringify(claims))}`;
      // JWS ES256 is the raw r||s pair (RFC 7518 §3.4), not DER.
      const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return `${input}.${b64url(signature)}`;
    },
  };
}
