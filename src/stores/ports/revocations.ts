/** Revocations: the durable record and the denylist in front of it (docs/sessions.md). */

export type RevocationKind = 'jti' | 'sid';

export interface Revocation {
  kind: RevocationKind;
  value: string;
  /** When the blocked token (or the last token of the blocked session) expires. */
  expiresAt: Date;
  reason?: string;
}

/** The durable record of revocations (Postgres). */
export interface RevocationStore {
  record(entries: Revocation[], at: Date): Promise<void>;
  /** Every revocation still in force at `now`, for rebuilding a cache. */
  listLive(now: Date): Promise<Revocation[]>;
  /** True if any of the values is revoked and still in force. */
  anyRevoked(keys: { kind: RevocationKind; value: string }[], now: Date): Promise<boolean>;
  purgeExpired(now: Date, batch: number): Promise<number>;
}

/**
 * The fast check every token verification makes. `add` records a new revocation: durable record
 * first (RevocationStore), then the cache, so an acknowledged revocation is never lost. `cache`
 * takes revocations a store transaction already recorded durably (a session's end): only the
 * fast copy is written, so the durable row (and its NOTIFY) is written once.
 */
export interface Denylist {
  add(entries: Revocation[]): Promise<void>;
  cache(entries: Revocation[]): Promise<void>;
  /** One round trip for both keys. */
  isRevoked(jti: string, sid: string | undefined): Promise<boolean>;
  close?(): Promise<void>;
}
