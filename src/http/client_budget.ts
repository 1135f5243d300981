import { RateLimiterRes } from 'rate-limiter-flexible';
import type { Limiter } from './limiter_store.js';

/** Each instance takes this share of a client's limit from the shared counter at a time. */
export const SLICE_SHARE = 0.01;
/** Below this limit a slice is one request: every request is counted in the shared store. */
export const EXACT_BELOW = 200;
/** A slice left untouched this long goes back to the shared counter (periodic synchronisation). */
export const IDLE_RETURN_MS = 1000;

/** b = max(1, floor(limit × 1%)): 1 (exact) for every limit under 200. */
export function sliceSize(limit: number): number {
  return Math.max(1, Math.floor(limit * SLICE_SHARE));
}

export type BudgetAnswer =
  | { allowed: true; remaining: number; resetMs: number }
  | { allowed: false; retryAfterMs: number };

interface Slice {
  /** Requests this instance may still serve without asking the store. */
  left: number;
  /** The shared counter's total right after this slice was taken (ours included). */
  consumed: number;
  /** Wall-clock end of the shared window the slice belongs to. */
  resetAt: number;
  lastUsed: number;
}

/**
 * A per-client request budget counted locally, synchronised with the shared counter one slice at
 * a time (docs/redis.md, "Per-client limits without a round trip per request"). An instance takes
 * b points from the shared counter (one INCRBY on Redis, one upsert on Postgres), serves b
 * requests from memory, then takes the next slice; only the last slice of a window may be partial.
 * A slice never outlives its window, and one left idle for IDLE_RETURN_MS, or still held at
 * `flush()` (shutdown), is given back.
 *
 * So the shared counter counts every request served, in slices: with n instances a client gets
 * at most limit + n×b requests in one window (a slice given back just as the window turns lowers
 * the next window's count by at most b per instance), and may be refused up to n×b requests early
 * while other instances still hold unused slices (until they give them back). Limits under 200
 * have b = 1: exact, as before.
 */
export class ClientBudget {
  private readonly slices = new Map<string, Slice>();
  /** One store call per key at a time: concurrent requests share it. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly refusedUntil = new Map<string, number>();
  private readonly slice: number;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limiter: Limiter,
    private readonly limit: number,
    private readonly idleReturnMs = IDLE_RETURN_MS,
  ) {
    this.slice = sliceSize(limit);
    if (this.slice > 1) {
      this.timer = setInterval(() => void this.returnIdle(), Math.max(10, Math.floor(idleReturnMs / 2)));
      this.timer.unref();
    }
  }

  /** Counts one request of `key`. */
  async take(key: string): Promise<BudgetAnswer> {
    if (this.slice === 1) return this.exact(key);
    for (;;) {
      // The window on the wall clock, like the store's own expiry.
      const now = Date.now();
      const refused = this.refusedUntil.get(key);
      if (refused !== undefined) {
        if (now < refused) return { allowed: false, retryAfterMs: refused - now };
        this.refusedUntil.delete(key);
      }
      const s = this.slices.get(key);
      if (s && now < s.resetAt && s.left > 0) {
        s.left--;
        s.lastUsed = now;
        // An estimate: other instances may have spent some of the window since the slice was taken.
        return {
          allowed: true,
          remaining: Math.max(0, this.limit - s.consumed + s.left),
          resetMs: s.resetAt - now,
        };
      }
      const running = this.pending.get(key);
      if (running) {
        await running;
        continue;
      }
      const next = this.takeSlice(key).finally(() => this.pending.delete(key));
      this.pending.set(key, next);
      await next;
    }
  }

  /** Gives every unused slice of a still-open window back to the shared counter (shutdown). */
  async flush(): Promise<void> {
    const now = Date.now();
    const giving = [...this.slices].map(([key, s]) => this.giveBack(key, s, now));
    await Promise.all(giving);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async exact(key: string): Promise<BudgetAnswer> {
    try {
      const res = await this.limiter.consume(key, 1);
      return { allowed: true, remaining: Math.max(0, res.remainingPoints), resetMs: res.msBeforeNext };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      return { allowed: false, retryAfterMs: err.msBeforeNext };
    }
  }

  private async takeSlice(key: string): Promise<void> {
    const old = this.slices.get(key);
    // A slice of a window that ended is worth nothing: never carried into the next one.
    if (old) this.slices.delete(key);
    let res: RateLimiterRes;
    let granted = this.slice;
    try {
      res = await this.limiter.consume(key, this.slice);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      res = err;
      // Only what was left under the limit when this slice was taken: a partial last slice.
      granted = Math.max(0, this.limit - (res.consumedPoints - this.slice));
    }
    const now = Date.now();
    const resetAt = now + res.msBeforeNext;
    if (granted <= 0) {
      this.refusedUntil.set(key, resetAt);
      return;
    }
    this.slices.set(key, {
      left: granted,
      consumed: Math.min(res.consumedPoints, this.limit),
      resetAt,
      lastUsed: now,
    });
  }

  private async returnIdle(): Promise<void> {
    const now = Date.now();
    for (const [key, until] of this.refusedUntil) if (until <= now) this.refusedUntil.delete(key);
    for (const [key, s] of this.slices) {
      if (now >= s.resetAt) this.slices.delete(key);
      else if (now - s.lastUsed >= this.idleReturnMs) await this.giveBack(key, s, now);
    }
  }

  private async giveBack(key: string, s: Slice, now: number): Promise<void> {
    if (this.slices.get(key) === s) this.slices.delete(key);
    if (s.left <= 0 || now >= s.resetAt) return;
    const points = s.left;
    s.left = 0;
    // Best effort: a store that cannot be reached keeps the points (the client is refused earlier).
    await this.limiter.reward(key, points).catch(() => undefined);
  }
}
