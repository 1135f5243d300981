import { randomBytes } from 'node:crypto';
import type { EventBus } from '../../events.js';
import type { RedisClient } from '../../redis/connect.js';
import type { Denylist, Revocation, RevocationKind, RevocationStore } from '../types.js';

/**
 * How long one Redis check may take before the answer comes from Postgres instead. A token check
 * sits on every authenticated request, so it must never wait for ioredis' own reconnect logic.
 */
export const REDIS_CHECK_TIMEOUT_MS = 250;
/** After a failure, go straight to Postgres for this long before trying Redis again (circuit breaker). */
export const REDIS_RETRY_AFTER_MS = 1000;
/** At boot, how long to wait for the first connection before starting degraded (on Postgres). */
export const REDIS_BOOT_WAIT_MS = 3000;
/** The rebuild lock outlives any sane rebuild; it is released explicitly when done. */
const REBUILD_LOCK_MS = 30_000;

// Compare-and-delete: release the rebuild lock only if this instance still holds it.
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface RedisDenylistDeps {
  redis: RedisClient;
  /** The durable record (Postgres): written first, read when Redis cannot be trusted. */
  durable: RevocationStore;
  /** REDIS_KEY_PREFIX, e.g. `tessera:`. */
  prefix: string;
  events: EventBus;
  now: () => number;
  checkTimeoutMs?: number;
  retryAfterMs?: number;
}

type Health = 'up' | 'down';

class Timeout extends Error {}

/** Resolves once the client is connected, or after `ms` (then the first command fails and we fall back). */
function connected(redis: RedisClient, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The shared denylist (docs/redis.md) on Redis, in front of the durable Postgres record.
 *
 * Keys share the `{deny}` hash tag, so in a Cluster they live in one slot and a check of the jti,
 * the sid and the readiness marker is a single MGET. The marker is written (atomically with the
 * entries) after a rebuild from Postgres; a missing marker means Redis lost its data (restart,
 * failover, flush) and is not trusted until rebuilt. Every failure falls back to Postgres:
 * slower, never less safe.
 */
export class RedisDenylist implements Denylist {
  private readonly redis: RedisClient;
  private readonly durable: RevocationStore;
  private readonly events: EventBus;
  private readonly now: () => number;
  private readonly checkTimeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly keyBase: string;
  private readonly markerKey: string;
  private readonly lockKey: string;

  private health: Health = 'up';
  private retryAt = 0;
  /**
   * Bumped whenever Redis may be missing something this instance acknowledged (a failed write, a
   * reconnect); a rebuild clears only the bumps it started after, so a failure during a rebuild
   * is never forgotten.
   */
  private dirtyEpoch = 0;
  private syncedEpoch = 0;
  private rebuilding: Promise<void> | undefined;
  private connectedBefore = false;

  constructor(deps: RedisDenylistDeps) {
    this.redis = deps.redis;
    this.durable = deps.durable;
    this.events = deps.events;
    this.now = deps.now;
    this.checkTimeoutMs = deps.checkTimeoutMs ?? REDIS_CHECK_TIMEOUT_MS;
    this.retryAfterMs = deps.retryAfterMs ?? REDIS_RETRY_AFTER_MS;
    this.keyBase = `${deps.prefix}{deny}:`;
    this.markerKey = `${this.keyBase}ready`;
    this.lockKey = `${this.keyBase}rebuild-lock`;
    this.redis.on('ready', () => {
      // Reconnected: try Redis on the next check instead of waiting out the breaker. A reconnect
      // may also mean a failover to a replica that missed recent writes while keeping the marker,
      // so re-sync from Postgres before trusting it again.
      this.retryAt = 0;
      if (this.connectedBefore) this.markDirty();
      this.connectedBefore = true;
    });
  }

  key(kind: RevocationKind, value: string): string {
    return `${this.keyBase}${kind}:${value}`;
  }

  /** At start: make Redis trustworthy if it is reachable; never fails the boot. */
  async load(): Promise<void> {
    await connected(this.redis, REDIS_BOOT_WAIT_MS);
    try {
      const marker = await withTimeout(this.redis.exists(this.markerKey), this.checkTimeoutMs * 4);
      this.markUp();
      if (marker === 0) await this.rebuild();
    } catch (err) {
      this.markDown(err);
    }
  }

  async add(entries: Revocation[]): Promise<void> {
    // Durable first: once Postgres has it, no Redis mishap can lose the revocation.
    await this.durable.record(entries, new Date(this.now()));
    await this.cache(entries);
  }

  /** Revocations already durable: only Redis is written; a failure marks it for a rebuild. */
  async cache(entries: Revocation[]): Promise<void> {
    try {
      await withTimeout(this.write(entries), this.checkTimeoutMs * 4);
      this.markUp();
    } catch (err) {
      this.markDirty();
      this.markDown(err);
    }
  }

  async isRevoked(jti: string, sid: string | undefined): Promise<boolean> {
    // The breaker runs on wall time: the injected clock is for token lifetimes, not for I/O.
    if (this.health === 'up' || Date.now() >= this.retryAt) {
      const keys = [
        this.markerKey,
        this.key('jti', jti),
        ...(sid === undefined ? [] : [this.key('sid', sid)]),
      ];
      try {
        // One round trip for the marker and both entries (one slot thanks to the hash tag).
        const values = await withTimeout(this.redis.mget(...keys), this.checkTimeoutMs);
        const recovered = this.markUp();
        if (values[0] !== null && !recovered && this.dirtyEpoch === this.syncedEpoch) {
          return values.slice(1).some((v) => v !== null);
        }
        // No marker (Redis came back empty) or just recovered: rebuild in the background and
        // answer from the durable record until Redis is trustworthy again.
        this.rebuildSoon();
      } catch (err) {
        this.markDown(err);
      }
    }
    return this.durable.anyRevoked(
      [{ kind: 'jti', value: jti }, ...(sid === undefined ? [] : [{ kind: 'sid' as const, value: sid }])],
      new Date(this.now()),
    );
  }

  /** For /readyz: PING within the check timeout. */
  async ping(): Promise<boolean> {
    try {
      await withTimeout(this.redis.ping(), this.checkTimeoutMs * 4);
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves when a running rebuild (if any) has finished; for tests and shutdown. */
  async settled(): Promise<void> {
    await this.rebuilding?.catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.settled();
  }

  private async write(entries: Revocation[]): Promise<void> {
    const now = this.now();
    // PX = the remaining life of what the entry blocks: Redis forgets it exactly when it stops mattering.
    const live = entries.filter((e) => e.expiresAt.getTime() > now);
    if (live.length === 0) return;
    const tx = this.redis.multi();
    for (const e of live) tx.set(this.key(e.kind, e.value), '1', 'PX', e.expiresAt.getTime() - now);
    await tx.exec();
  }

  private rebuildSoon(): void {
    if (this.rebuilding) return;
    this.rebuilding = this.rebuild()
      .catch((err) => this.markDown(err))
      .finally(() => {
        this.rebuilding = undefined;
      });
  }

  /**
   * Copies every live revocation from Postgres into Redis and sets the marker, in one MULTI (one
   * slot), so a flush can never leave a marker without its entries. A lock keeps a fleet of
   * instances from all doing it at once; a loser simply keeps answering from Postgres until the
   * marker appears. Idempotent: entries are plain SETs with the remaining life.
   */
  async rebuild(): Promise<void> {
    const token = randomBytes(12).toString('base64url');
    const got = await this.redis.set(this.lockKey, token, 'PX', REBUILD_LOCK_MS, 'NX');
    if (got !== 'OK') return;
    const epoch = this.dirtyEpoch;
    try {
      const live = await this.durable.listLive(new Date(this.now()));
      const now = this.now();
      const tx = this.redis.multi();
      for (const e of live) {
        const ttl = e.expiresAt.getTime() - now;
        if (ttl > 0) tx.set(this.key(e.kind, e.value), '1', 'PX', ttl);
      }
      tx.set(this.markerKey, String(now));
      await tx.exec();
      this.syncedEpoch = epoch;
    } finally {
      await this.redis.eval(RELEASE_LOCK, 1, this.lockKey, token).catch(() => undefined);
    }
  }

  private markDirty(): void {
    this.dirtyEpoch++;
  }

  /** Returns true on the transition down → up. */
  private markUp(): boolean {
    if (this.health === 'up') return false;
    this.health = 'up';
    // Writes may have been missed while we could not reach Redis: re-sync before trusting it.
    this.markDirty();
    this.events.emit('dependency.recovered', { dependency: 'redis' });
    return true;
  }

  private markDown(err: unknown): void {
    this.retryAt = Date.now() + this.retryAfterMs;
    if (this.health === 'down') return;
    this.health = 'down';
    this.events.emit('dependency.degraded', { dependency: 'redis', err });
  }
}
