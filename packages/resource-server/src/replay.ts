import { createHash } from 'node:crypto';

/**
 * RFC 9449 §11.1: the DPoP proofs seen recently, so a captured proof cannot be sent again. The
 * default lives in this process's memory: a resource server that runs as several instances must
 * plug in one shared cache (Redis `SET key 1 PX ttl NX`, a database row with a unique key), or a
 * proof refused by one instance is accepted by the next.
 */
export interface ReplayCache {
  /** True when `id` was not seen in the last `ttlMs` (and is now remembered that long). */
  claim(id: string, ttlMs: number): Promise<boolean>;
}

/** The cache is full of live proofs: the kit answers 503 rather than forget one (a replay window). */
export class ReplayCacheFull extends Error {
  constructor() {
    super('DPoP replay cache is full');
    this.name = 'ReplayCacheFull';
  }
}

/** Keys are a fixed-size digest of the proof id, never the client's own (unbounded) text. */
const digest = (id: string) => createHash('sha256').update(id, 'utf8').digest('base64url');

/**
 * The in-memory default: a Map of digests to their expiry, swept when it reaches `maxEntries`.
 * Every entry lives about two minutes (the `iat` window), so the bound is proofs per two minutes.
 */
export class MemoryReplayCache implements ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(id: string, ttlMs: number): Promise<boolean> {
    const key = digest(id);
    const now = this.now();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.seen.size >= this.maxEntries) {
      for (const [k, u] of this.seen) if (u <= now) this.seen.delete(k);
      // Evicting a live entry would let its proof be replayed: refuse until some expire instead.
      if (this.seen.size >= this.maxEntries) throw new ReplayCacheFull();
    }
    this.seen.set(key, now + ttlMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
