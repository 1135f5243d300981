import { randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { accessTokenHash } from '../../src/dpop/proof.js';

export interface DpopKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
  alg: string;
}

/** A client's DPoP key pair (ES256 unless told otherwise). */
export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey), alg };
}

export interface ProofOptions {
  htm?: string;
  htu: string;
  /** The access token the proof comes with at a resource (sets `ath`). */
  accessToken?: string;
  nonce?: string;
  /** Seconds since the epoch; default now. */
  iat?: number;
  jti?: string;
  /** Replaces or adds header members (`typ`, `alg`, `jwk`). */
  header?: Record<string, unknown>;
  /** Replaces or adds claims (undefined deletes one). */
  claims?: Record<string, unknown>;
  /** Sign with this key instead (while the header carries `key`'s public JWK). */
  signWith?: CryptoKey;
}

/** An RFC 9449 §4.2 proof, correct unless the options break it. */
export async function proof(key: DpopKey, o: ProofOptions): Promise<string> {
  const claims: Record<string, unknown> = {
    htm: o.htm ?? 'POST',
    htu: o.htu,
    iat: o.iat ?? Math.floor(Date.now() / 1000),
    jti: o.jti ?? randomUUID(),
    ...(o.accessToken ? { ath: accessTokenHash(o.accessToken) } : {}),
    ...(o.nonce ? { nonce: o.nonce } : {}),
    ...o.claims,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return new SignJWT(claims)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk, ...o.header } as never)
    .sign(o.signWith ?? key.privateKey);
}
