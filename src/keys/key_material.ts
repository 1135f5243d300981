import {
  CompactEncrypt,
  type CryptoKey,
  calculateJwkThumbprint,
  compactDecrypt,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';
import type { SigningAlg } from '../config.js';
import type { KeyState, SigningKeyRecord } from '../stores/types.js';

/**
 * Key generation and encryption at rest. Private JWKs are sealed as compact JWE (`dir` +
 * A256GCM) under the KEK; the kid rides in the protected header, which GCM authenticates, so a
 * ciphertext copied onto another row fails to open instead of signing under the wrong kid.
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

function generateOptions(alg: SigningAlg) {
  // RFC 7518 §3.3: RSA keys of 2048 bits or more.
  if (alg === 'RS256' || alg === 'PS256') return { extractable: true, modulusLength: 2048 };
  if (alg === 'EdDSA') return { extractable: true, crv: 'Ed25519' };
  return { extractable: true };
}

export interface NewKeyTimes {
  createdAt: Date;
  activatedAt?: Date | null;
}

/** Generates a key pair and returns the row to store (private part already encrypted). */
export async function generateSigningKey(
  alg: SigningAlg,
  kek: Uint8Array,
  state: KeyState,
  times: NewKeyTimes,
): Promise<SigningKeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair(alg, generateOptions(alg));
  const publicJwk = await exportJWK(publicKey);
  // RFC 7638 thumbprint: a stable kid derived from the key itself, unique without coordination.
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    alg,
    state,
    publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
    privateJwe: await sealPrivateJwk(privateJwk, kid, kek),
    createdAt: times.createdAt,
    activatedAt: times.activatedAt ?? null,
    retiredAt: null,
    expiresAt: null,
    revokedAt: null,
  };
}

export async function sealPrivateJwk(jwk: JWK, kid: string, kek: Uint8Array): Promise<string> {
  return new CompactEncrypt(enc.encode(JSON.stringify(jwk)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid })
    .encrypt(kek);
}

export class KeyDecryptionError extends Error {
  constructor(kid: string, options?: { cause?: unknown }) {
    super(`cannot decrypt signing key ${kid}: wrong KEY_ENCRYPTION_KEY or a tampered row`, options);
    this.name = 'KeyDecryptionError';
  }
}

export async function openPrivateJwk(record: SigningKeyRecord, kek: Uint8Array): Promise<JWK> {
  try {
    const { plaintext, protectedHeader } = await compactDecrypt(record.privateJwe, kek, {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    if (protectedHeader.kid !== record.kid) throw new Error('kid mismatch');
    return JSON.parse(dec.decode(plaintext)) as JWK;
  } catch (cause) {
    throw new KeyDecryptionError(record.kid, { cause });
  }
}

export async function importPrivateKey(record: SigningKeyRecord, kek: Uint8Array): Promise<CryptoKey> {
  return (await importJWK(await openPrivateJwk(record, kek), record.alg)) as CryptoKey;
}

export async function importPublicKey(record: SigningKeyRecord): Promise<CryptoKey> {
  return (await importJWK(record.publicJwk as JWK, record.alg)) as CryptoKey;
}
