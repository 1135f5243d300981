import { createHash } from 'node:crypto';

/** A strong ETag (RFC 9110 §8.8.3) of a serialised body: 192 bits of its SHA-256, base64url. */
export const strongEtag = (body: string): string =>
  `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
