import { randomBytes } from 'node:crypto';
import type { EventBus } from '../../events.js';
import { emitSignal } from '../../facts/publisher.js';
import type { RedisClient } from '../../redis/connect.js';
import { subscriberConnection } from '../../redis/subscriber.js';
import { parseRevocationPayload, RevocationReplica, revocationPayload } from '../revocation_replica.js';
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
/**
 * How often each instance publishes a heartbeat on the changes channel and how recent the last
 * one it heard back must be for its replica to answer a check (docs/redis.md, "No round trip on a
 * hot check"). Messages reach a subscriber in the order Redis executed their PUBLISH, so hearing
 * our own heartbeat sent at t proves we heard every revocation acknowledged before t; a
 * subscription that hangs without breaking is thus noticed within TRUST_WINDOW_MS.
 */
export const HEARTBEAT_MS = 100;
export const TRUST_WINDOW_MS = 300;

/** Changes-channel messages that are not a revocation (revocationPayload's format). */
const RELOAD = 'reload';
const HEARTBEAT_PREFIX = 'hb ';

/**
 * The heartbeat: PUBLISH from a script with `{deny}` keys, so on a Cluster it runs on the master
 * of the denylist's slot, where every revocation's MULTI publishes too (heartbeats and
 * revocations travel one node's cluster bus in one order). It answers whether the marker is
 * still there, so a flushed Redis is noticed within one heartbeat even while no check reads it.
 */
const HEARTBEAT = `redis.call('publish', ARGV[1], ARGV[2]) return redis.call('exists', KEYS[2])`;

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
  /**
   * Keep a process-local replica fed by pub/sub (default). A process that only writes (the CLI)
   * passes false: it opens no subscriber and every check reads Redis.
   */
  replica?: boolean;
  heartbeatMs?: number;
  trustWindowMs?: number;
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
 *
 * In front of that, a replica (revocation_replica.ts): every revocation is also a member of the
 * `{deny}:index` sorted set (scored by its expiry) and published on `{deny}:changes`, and a
 * dedicated subscriber keeps a process-local copy, re-read from the index on every
 * (re)subscription. While the copy is complete and a heartbeat proves the subscription current, a
 * check is answered from memory with no round trip; whenever that is in doubt, it is the MGET.
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

  private readonly indexKey: string;
  private readonly channel: string;
  private readonly replica: RevocationReplica;
  private readonly subscriber: RedisClient | undefined;
  private readonly instance = randomBytes(9).toString('base64url');
  private readonly trustWindowMs: number;
  private readonly heartbeatMs: number;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Send time (wall clock) of the newest own heartbeat heard back on the subscriber. */
  private confirmedAt = 0;
  /** Set by every (re)subscription: the replica is re-read once a heartbeat proves it is live. */
  private awaitingProof = true;
  private reading: Promise<void> | undefined;
  private closed = false;

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
    this.indexKey = `${this.keyBase}index`;
    this.channel = `${this.keyBase}changes`;
    this.replica = new RevocationReplica(deps.now);
    this.heartbeatMs = deps.heartbeatMs ?? HEARTBEAT_MS;
    this.trustWindowMs = deps.trustWindowMs ?? TRUST_WINDOW_MS;
    if (deps.replica !== false) {
      this.subscriber = this.subscribe();
      // The shared client closed for good (it is closed last on shutdown): so is the replica.
      this.redis.once('end', () => void this.close());
    }
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
    if (this.subscriber && !this.closed) {
      this.replica.startSweeping();
      this.heartbeat ??= setInterval(() => void this.beat(), this.heartbeatMs);
      this.heartbeat.unref();
      void this.beat();
    }
  }

  async add(entries: Revocation[]): Promise<void> {
    // Durable first: once Postgres has it, no Redis mishap can lose the revocation.
    await this.durable.record(entries, new Date(this.now()));
    await this.cache(entries);
  }

  /** Revocations already durable: only Redis is written; a failure marks it for a rebuild. */
  async cache(entries: Revocation[]): Promise<void> {
    // This instance knows at once, whatever happens to the write or its echo.
    for (const e of entries) this.replica.remember(e);
    try {
      await withTimeout(this.write(entries), this.checkTimeoutMs * 4);
      this.markUp();
    } catch (err) {
      this.markDirty();
      this.markDown(err);
    }
  }

  async isRevoked(jti: string, sid: string | undefined): Promise<boolean> {
    if (this.trusted()) return this.replica.revoked(jti, sid);
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

  /**
   * True while a check is answered from the replica: the copy was re-read from the index since the
   * subscription last (re)started, the last heartbeat came back within the trust window, and
   * nothing this instance wrote may be missing from Redis (else the MGET path re-syncs it first).
   */
  trusted(): boolean {
    return (
      this.subscriber !== undefined &&
      !this.awaitingProof &&
      this.replica.complete() &&
      Date.now() - this.confirmedAt < this.trustWindowMs &&
      this.health === 'up' &&
      this.dirtyEpoch === this.syncedEpoch
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

  /**
   * Resolves when a running rebuild (if any) has finished, after one heartbeat (which notices a
   * lost marker) and the replica read it may start; for tests and shutdown.
   */
  async settled(): Promise<void> {
    if (this.subscriber) await this.beat(true);
    await this.rebuilding?.catch(() => undefined);
    await this.reading?.catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.replica.stop();
    this.subscriber?.disconnect();
    await this.settled();
  }

  private async write(entries: Revocation[]): Promise<void> {
    const now = this.now();
    // PX = the remaining life of what the entry blocks: Redis forgets it exactly when it stops mattering.
    const live = entries.filter((e) => e.expiresAt.getTime() > now);
    if (live.length === 0) return;
    // One MULTI in the `{deny}` slot: the entry, its index member, and the message to every
    // replica. Old index members leave here, so the index follows the live set without a job.
    const tx = this.redis.multi();
    for (const e of live) {
      tx.set(this.key(e.kind, e.value), '1', 'PX', e.expiresAt.getTime() - now);
      tx.zadd(this.indexKey, e.expiresAt.getTime(), `${e.kind}:${e.value}`);
    }
    tx.zremrangebyscore(this.indexKey, '-inf', now);
    for (const e of live) tx.publish(this.channel, revocationPayload(e));
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
        if (ttl > 0) {
          tx.set(this.key(e.kind, e.value), '1', 'PX', ttl);
          tx.zadd(this.indexKey, e.expiresAt.getTime(), `${e.kind}:${e.value}`);
        }
      }
      tx.zremrangebyscore(this.indexKey, '-inf', now);
      tx.set(this.markerKey, String(now));
      // Entries written in bulk were not published one by one: every replica re-reads the index.
      tx.publish(this.channel, RELOAD);
      await tx.exec();
      this.syncedEpoch = epoch;
    } finally {
      await this.redis.eval(RELEASE_LOCK, 1, this.lockKey, token).catch(() => undefined);
    }
  }

  /** The dedicated pub/sub connection (src/redis/subscriber.ts) that feeds the replica. */
  private subscribe(): RedisClient {
    const subscriber = subscriberConnection(this.redis);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.heard(message);
    });
    // Connection lost or re-established: messages may have been missed meanwhile.
    const doubt = () => {
      this.awaitingProof = true;
      this.replica.invalidate();
    };
    subscriber.on('close', doubt);
    subscriber.on('ready', doubt);
    // Errors are the shared client's to report (dependency.degraded); a listener keeps them from crashing.
    subscriber.on('error', () => undefined);
    subscriber.subscribe(this.channel).catch(() => undefined);
    return subscriber;
  }

  private heard(message: string): void {
    const revoked = parseRevocationPayload(message);
    if (revoked) {
      this.replica.remember(revoked);
    } else if (message.startsWith(HEARTBEAT_PREFIX)) {
      const [, instance, sentAt] = message.split(' ');
      if (instance !== this.instance) return;
      this.confirmedAt = Math.max(this.confirmedAt, Number(sentAt));
      // The first heartbeat since a (re)subscription proves the subscription is live: anything
      // written to the index from now on is also heard, so the index can be read.
      if (this.awaitingProof) {
        this.awaitingProof = false;
        this.readReplica();
      }
    } else if (message === RELOAD) {
      this.replica.invalidate();
      this.readReplica();
    }
  }

  /** Re-reads the index into the replica (single-flight; a read asked for meanwhile runs after). */
  private readReplica(): void {
    const previous = this.reading ?? Promise.resolve();
    const next: Promise<void> = previous
      .then(() =>
        this.replica.rebuild(async () => {
          const now = this.now();
          // Marker and index in one MULTI (one slot): a consistent snapshot.
          const replies = await withTimeout(
            this.redis
              .multi()
              .get(this.markerKey)
              .zrangebyscore(this.indexKey, now, '+inf', 'WITHSCORES')
              .exec(),
            this.checkTimeoutMs * 4,
          );
          const marker = replies?.[0]?.[1];
          const flat = replies?.[1]?.[1] as string[] | undefined;
          // No marker: this Redis lost its data; the MGET path rebuilds it, and that rebuild's
          // reload message brings the replica back.
          if (marker === null || marker === undefined || !flat) return undefined;
          const entries: Revocation[] = [];
          for (let i = 0; i + 1 < flat.length; i += 2) {
            const member = flat[i] as string;
            const colon = member.indexOf(':');
            entries.push({
              kind: member.slice(0, colon) as RevocationKind,
              value: member.slice(colon + 1),
              expiresAt: new Date(Number(flat[i + 1])),
            });
          }
          return entries;
        }),
      )
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        if (this.reading === next) this.reading = undefined;
      });
    this.reading = next;
  }

  /**
   * Publishes this instance's heartbeat in the denylist's slot; a failure simply lets trust lapse.
   * A missing marker (Redis lost its data) ends trust at once: the next check reads Redis, finds
   * no marker and starts the rebuild (point 4), or `rebuildIfLost` starts it here.
   */
  private async beat(rebuildIfLost = false): Promise<void> {
    if (this.redis.status !== 'ready' || this.closed) return;
    const message = `${HEARTBEAT_PREFIX}${this.instance} ${Date.now()}`;
    try {
      const marker = await this.redis.eval(
        HEARTBEAT,
        2,
        this.indexKey,
        this.markerKey,
        this.channel,
        message,
      );
      if (marker === 0) {
        this.replica.invalidate();
        if (rebuildIfLost) this.rebuildSoon();
      }
    } catch {
      // Trust lapses with the trust window; the MGET path then sees and reports the failure.
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
    emitSignal(this.events, 'dependency.recovered', { dependency: 'redis' });
    return true;
  }

  private markDown(err: unknown): void {
    this.retryAt = Date.now() + this.retryAfterMs;
    if (this.health === 'down') return;
    this.health = 'down';
    emitSignal(this.events, 'dependency.degraded', { dependency: 'redis', err });
  }
}
