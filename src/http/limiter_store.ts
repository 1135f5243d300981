import type { Knex } from 'knex';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterRes,
  RLWrapperTimeouts,
} from 'rate-limiter-flexible';
import type { RedisClient } from '../redis/connect.js';

/**
 * A hung store (connected but silent) must not add its command timeout to every limiter call of
 * a login: after this long the process's own count answers instead.
 */
export const SHARED_LIMITER_TIMEOUT_MS = 250;

/**
 * The longest a shared limiter's local shadow remembers a key. The shadow only has to cover the
 * calls the shared store missed (a timeout, an outage); capping it bounds the memory a flood of
 * distinct usernames can take in every process (docs/redis.md, "Rate limits").
 */
export const LOCAL_SHADOW_MAX_S = 3600;

/** The table migration 20261201_202_rate_limits creates for rate-limiter-flexible's Postgres store. */
export const RATE_LIMIT_TABLE = 'rate_limits';

/** Where the counters of every limiter live: one choice per process, made in the composition root. */
export type LimiterBackend =
  /** Embedded mode: one process, so process memory is the shared state. */
  | { kind: 'memory' }
  /** Keys are `${prefix}rl:<name>:<key>`, single-key commands only (Redis Cluster safe). */
  | { kind: 'redis'; redis: RedisClient; prefix: string }
  /** Production without Redis: one row per key in `rate_limits`. */
  | { kind: 'postgres'; db: Knex };

export interface LimiterSpec {
  name: string;
  points: number;
  /** Seconds. */
  duration: number;
}

/**
 * What the rate limits use of a limiter. `consume` rejects with a `RateLimiterRes` when the key is
 * over its points (rate-limiter-flexible's convention); any other rejection is an outage.
 */
export interface Limiter {
  consume(key: string, points?: number): Promise<RateLimiterRes>;
  get(key: string): Promise<RateLimiterRes | null>;
  set(key: string, points: number, secDuration: number): Promise<RateLimiterRes>;
  delete(key: string): Promise<boolean>;
  reward(key: string, points?: number): Promise<RateLimiterRes>;
}

export type LimiterFactory = (spec: LimiterSpec) => Limiter;

/**
 * Builds limiters on one backend. A shared store (Redis or Postgres) is shadowed by a per-process
 * memory count of the same keys (`ShadowedLimiter`), so the limits hold per instance when the store
 * is unreachable or slower than SHARED_LIMITER_TIMEOUT_MS (docs/redis.md, "Rate limits").
 */
export function limiterFactory(backend: LimiterBackend): LimiterFactory {
  // rate-limiter-flexible's Postgres cleanup deletes expired rows of the whole table: one
  // limiter per process schedules it, not every one.
  let cleanerAssigned = false;
  return (spec) => {
    const keyPrefix = backend.kind === 'redis' ? `${backend.prefix}rl:${spec.name}` : `rl:${spec.name}`;
    const options = { keyPrefix, points: spec.points, duration: spec.duration };
    let shared: RateLimiterAbstract;
    switch (backend.kind) {
      case 'memory':
        return new RateLimiterMemory(options);
      case 'redis':
        shared = new RateLimiterRedis({
          ...options,
          storeClient: backend.redis,
          // Don't queue behind a reconnect: fail at once so the local count answers.
          rejectIfRedisNotReady: true,
        });
        break;
      case 'postgres':
        shared = new RateLimiterPostgres({
          ...options,
          storeClient: backend.db,
          storeType: 'knex',
          tableName: RATE_LIMIT_TABLE,
          // The migration created it: the server needs no DDL rights.
          tableCreated: true,
          clearExpiredByTimeout: !cleanerAssigned,
        });
        cleanerAssigned = true;
        break;
    }
    const bounded = new RLWrapperTimeouts({ limiter: shared, timeoutMs: SHARED_LIMITER_TIMEOUT_MS });
    const local = new RateLimiterMemory({
      ...options,
      duration: Math.min(spec.duration, LOCAL_SHADOW_MAX_S),
    });
    return new ShadowedLimiter(bounded as unknown as RateLimiterAbstract, local);
  };
}

type Outcome = { ok: true; res: RateLimiterRes } | { ok: false; over: boolean; res?: RateLimiterRes };

async function outcome(call: Promise<RateLimiterRes>): Promise<Outcome> {
  try {
    return { ok: true, res: await call };
  } catch (err) {
    if (err instanceof RateLimiterRes) return { ok: false, over: true, res: err };
    return { ok: false, over: false };
  }
}

const higher = (a: RateLimiterRes | null | undefined, b: RateLimiterRes | null | undefined) =>
  !a ? (b ?? null) : !b ? a : b.consumedPoints > a.consumedPoints ? b : a;

/**
 * A shared limiter whose every call is also counted in process memory, and whose answer is the
 * stricter of the two. An insurance limiter that counts only the calls the store missed answers
 * from a count that started at zero: under CPU starvation, when some calls of a burst time out and
 * others do not, that let a parallel burst past a login limit. Counting everything locally makes
 * the fallback never looser than this process's own count, and a store that lost its counters
 * (a flush, a failover) no looser than that either.
 */
export class ShadowedLimiter implements Limiter {
  constructor(
    private readonly shared: RateLimiterAbstract,
    private readonly local: RateLimiterMemory,
  ) {}

  async consume(key: string, points = 1): Promise<RateLimiterRes> {
    const [shared, local] = await Promise.all([
      outcome(this.shared.consume(key, points)),
      outcome(this.local.consume(key, points)),
    ]);
    // The store unreachable or late: this process's count decides alone.
    const counted = shared.ok || shared.over ? [shared, local] : [local];
    const res = counted.reduce<RateLimiterRes | null>((best, o) => higher(best, o.res), null);
    if (!res) throw new Error('rate limiter answered nothing');
    if (counted.some((o) => !o.ok)) throw res;
    return res;
  }

  async get(key: string): Promise<RateLimiterRes | null> {
    const [shared, local] = await Promise.all([this.shared.get(key).catch(() => null), this.local.get(key)]);
    return higher(shared, local);
  }

  async set(key: string, points: number, secDuration: number): Promise<RateLimiterRes> {
    const localSeconds = Math.min(secDuration, LOCAL_SHADOW_MAX_S);
    const [shared, local] = await Promise.all([
      this.shared.set(key, points, secDuration).catch(() => null),
      this.local.set(key, points, localSeconds),
    ]);
    return shared ?? local;
  }

  async delete(key: string): Promise<boolean> {
    const [shared, local] = await Promise.all([
      this.shared.delete(key).catch(() => false),
      this.local.delete(key),
    ]);
    return shared || local;
  }

  async reward(key: string, points = 1): Promise<RateLimiterRes> {
    // Never below zero locally: a key the shadow forgot (or never saw) stays forgotten.
    const own = await this.local.get(key);
    const [shared, local] = await Promise.all([
      this.shared.reward(key, points).catch(() => null),
      own && own.consumedPoints > 0 ? this.local.reward(key, Math.min(points, own.consumedPoints)) : null,
    ]);
    const res = shared ?? local ?? own;
    return res ?? new RateLimiterRes(0, 0, 0, false);
  }
}
