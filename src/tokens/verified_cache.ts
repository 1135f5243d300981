import type { CryptoKey } from 'jose';
import type { AccessTokenClaims } from './access_token.js';

/**
 * How many verified access tokens one process remembers. A resource server checks the same few
 * tokens over and over; 10,000 entries of about 1 KiB each bound the cache to ~10 MiB.
 */
export const VERIFIED_CACHE_MAX_ENTRIES = 10_000;

interface Entry {
  claims: Readonly<AccessTokenClaims>;
  kid: string;
  /** The exact public key that verified the signature; a revoked or rotated-out key is gone from the ring. */
  key: CryptoKey;
  /** `exp` in ms: the entry is never used at or after it, whatever the clock tolerance allows. */
  expiresAtMs: number;
}

/**
 * Access tokens whose signature and claims already verified, keyed by the SHA-256 digest of the
 * token (the token itself is never held as a key). Least recently used entries leave first. An
 * entry answers only while its token is unexpired and the key that verified it is still the
 * published key for its kid, so `keys revoke` takes effect on the next request. Only the
 * stateless part is cached: the denylist and the client check still run on every request.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries = VERIFIED_CACHE_MAX_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The cached claims of the token whose SHA-256 digest is `digest`, if they may still be trusted
   * at `nowMs` given the key published under the token's kid now (`publishedKey`).
   */
  get(
    digest: string,
    nowMs: number,
    publishedKey: (kid: string) => CryptoKey | undefined,
    toleranceS: number,
  ): Readonly<AccessTokenClaims> | undefined {
    const entry = this.entries.get(digest);
    if (!entry) return undefined;
    const nowS = nowMs / 1000;
    // nbf/iat are re-checked too: an injected clock may move backwards.
    const notBefore = Math.max(entry.claims.nbf ?? 0, entry.claims.iat ?? 0);
    if (
      nowMs >= entry.expiresAtMs ||
      publishedKey(entry.kid) !== entry.key ||
      notBefore > nowS + toleranceS
    ) {
      this.entries.delete(digest);
      return undefined;
    }
    // Refresh its recency: a Map iterates in insertion order, so the oldest key is the LRU one.
    this.entries.delete(digest);
    this.entries.set(digest, entry);
    return entry.claims;
  }

  set(digest: string, claims: AccessTokenClaims, kid: string, key: CryptoKey): Readonly<AccessTokenClaims> {
    const frozen = Object.freeze(claims);
    this.entries.delete(digest);
    this.entries.set(digest, { claims: frozen, kid, key, expiresAtMs: claims.exp * 1000 });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    return frozen;
  }
}
