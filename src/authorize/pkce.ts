import { createHash, timingSafeEqual } from 'node:crypto';

/** The only method Tessera accepts: RFC 9700 §2.1.1 — `plain` protects nothing once the request leaks. */
export const PKCE_METHODS = ['S256'] as const;

/** RFC 7636 §4.2: BASE64URL(SHA256(verifier)) of a 32-byte digest is exactly 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7636 §4.1: code-verifier = 43*128unreserved. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export const isS256Challenge = (challenge: string) => S256_CHALLENGE.test(challenge);

/** RFC 7636 §4.6: constant-time comparison of BASE64URL(SHA256(code_verifier)) with the challenge. */
export function verifierMatches(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier) || !isS256Challenge(challenge)) return false;
  const computed = createHash('sha256').update(verifier, 'ascii').digest();
  const expected = Buffer.from(challenge, 'base64url');
  return expected.length === computed.length && timingSafeEqual(computed, expected);
}
