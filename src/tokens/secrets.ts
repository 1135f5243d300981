import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 bits of randomness, base64url: refresh tokens and client secrets (docs/sessions.md). */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/** SHA-256 digest, base64url. High-entropy values need no slow hash; stores keep only this. */
export const sha256 = (value: string): string =>
  createHash('sha256').update(value, 'utf8').digest('base64url');

/**
 * Constant-time check of a presented secret against a stored digest. Hashing first makes the
 * compared buffers equal in length, so timingSafeEqual never leaks the length either.
 */
export function secretMatches(presented: string, storedDigest: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = Buffer.from(storedDigest, 'base64url');
  return b.length === a.length && timingSafeEqual(a, b);
}
