import type { Revocation, RevocationKind } from './types.js';

/**
 * How often expired entries are dropped. Entries live at most as long as the tokens they block
 * (ACCESS_TOKEN_TTL, a session's lifetime), so without a sweep a busy server would keep every
 * revocation it ever saw in memory.
 */
export const REPLICA_SWEEP_INTERVAL_MS = 60_000;

/** `<kind> <expires-at ms> <value>`: the value last, so it may hold any character. */
export function revocationPayload(e: Pick<Revocation, 'kind' | 'value' | 'expiresAt'>): string {
  return `${e.kind} ${e.expiresAt.getTime()} ${e.value}`;
}

/** The inverse of revocationPayload; undefined for anything else (heartbeats, garbage). */
export function parseRevocationPayload(payload: string): Revocation | undefined {
  const m = /^(jti|sid) (\d+) (.+)$/s.exec(payload);
  if (!m) return undefined;
  return { kind: m[1] as RevocationKind, value: m[3] as string, expiresAt: new Date(Number(m[2])) };
}

/**
 * A process-local copy of the live revocations, the one shape behind every denylist
 * (docs/redis.md, "The denylist's durability guarantee"): the embedded mode's only copy, and the
 * replica that the Redis mode (pub/sub) and the Postgres-only mode (LISTEN/NOTIFY) keep current
 * so a hot token check costs no round trip.
 *
 * Entries are only ever added (a revocation is never taken back) and leave once what they block
 * has expired, so the copy errs on the side of refusing. Whether it is *complete* is tracked by
 * generations: anything that may have made the copy miss an entry (a lost subscription, a bulk
 * rewrite of the source) calls `invalidate()`, and only a snapshot read entirely after the last
 * invalidation makes it complete again. Whether its feed is *current* is the owner's business
 * (a heartbeat), so `complete()` is one half of each owner's `trusted()`.
 */
export class RevocationReplica {
  private readonly entries = new Map<string, number>();
  private generation = 0;
  private loadedGeneration = -1;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly now: () => number) {}

  remember(e: Pick<Revocation, 'kind' | 'value' | 'expiresAt'>): void {
    const exp = e.expiresAt.getTime();
    if (exp <= this.now()) return;
    const key = `${e.kind}:${e.value}`;
    this.entries.set(key, Math.max(this.entries.get(key) ?? 0, exp));
  }

  /** True when the copy holds a live entry for the jti or the sid. */
  revoked(jti: string, sid: string | undefined): boolean {
    return this.live(`jti:${jti}`) || (sid !== undefined && this.live(`sid:${sid}`));
  }

  /** The copy may have missed something: not complete until the next snapshot that started after now. */
  invalidate(): void {
    this.generation++;
  }

  /**
   * Merges a snapshot of the source (undefined: the source cannot be trusted, nothing changes).
   * Complete afterwards only if nothing invalidated the copy while the snapshot was being read.
   */
  async rebuild(read: () => Promise<Iterable<Pick<Revocation, 'kind' | 'value' | 'expiresAt'>> | undefined>) {
    const generation = this.generation;
    const snapshot = await read();
    if (snapshot === undefined) return false;
    for (const e of snapshot) this.remember(e);
    if (generation !== this.generation) return false;
    this.loadedGeneration = generation;
    return true;
  }

  complete(): boolean {
    return this.loadedGeneration === this.generation;
  }

  /** Entries held (expired ones included until the next sweep). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops every entry whose token or session has expired. */
  sweep(): void {
    const now = this.now();
    for (const [key, exp] of this.entries) if (exp <= now) this.entries.delete(key);
  }

  startSweeping(intervalMs = REPLICA_SWEEP_INTERVAL_MS): void {
    this.sweeper ??= setInterval(() => this.sweep(), intervalMs);
    // A timer must not keep a finished CLI command or test alive.
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private live(key: string): boolean {
    const exp = this.entries.get(key);
    return exp !== undefined && exp > this.now();
  }
}
