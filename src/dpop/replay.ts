import { sha256 } from '../tokens/secrets.js';

/**
 * RFC 9449 §11.1: the proofs seen recently, so a captured proof cannot be sent again. It lives
 * where the denylist lives (docs/dpop.md): Redis, Postgres, or this process's memory.
 */
export interface ReplayCache {
  /** True when `id` was not seen in the last `ttlMs` (and is now remembered that long). */
  claim(id: string, ttlMs: number): Promise<boolean>;
  close?(): Promise<void> | void;
}

/** Stores keep a fixed-size digest of the proof id, never the client's own (unbounded) text. */
export const replayKey = (id: string) => sha256(id);

/** Expired entries are dropped once the map holds this many (every proof lives a couple of minutes). */
const SWEEP_AT = 10_000;

/** The embedded mode's replay cache: a Map of digests to their expiry, swept as it grows. */
export class MemoryReplayCache implements ReplayCache {
  private readonly seen = new Map<string, number>();
  private sweepAt = SWEEP_AT;

  constructor(private readonly now: () => number) {}

  async claim(id: string, ttlMs: number): Promise<boolean> {
    const key = replayKey(id);
    const now = this.now();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.seen.size >= this.sweepAt) this.sweep(now);
    this.seen.set(key, now + ttlMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    for (const [key, until] of this.seen) if (until <= now) this.seen.delete(key);
    // Still full of live entries: sweep again only after as many more.
    this.sweepAt = this.seen.size + SWEEP_AT;
  }
}
