import type { Knex } from 'knex';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RLWrapperTimeouts,
} from 'rate-limiter-flexible';
import type { RedisClient } from '../redis/connect.js';

/**
 * A hung store (connected but silent) must not add its command timeout to every limiter call of
 * a login: after this long the in-memory insurance limiter answers instead.
 */
export const SHARED_LIMITER_TIMEOUT_MS = 250;

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

export type LimiterFactory = (spec: LimiterSpec) => RateLimiterAbstract;

/**
 * Builds limiters on one backend. A shared store (Redis or Postgres) gets a per-process memory
 * limiter as insurance: when the store is unreachable or slower than SHARED_LIMITER_TIMEOUT_MS,
 * the limits still hold, per instance (docs/redis.md, "Rate limits"). The insurance sits on the
 * timeout wrapper only, so a slow call that fails late is never counted twice.
 */
export function limiterFactory(backend: LimiterBackend): LimiterFactory {
  // rate-limiter-flexible's Postgres cleanup deletes expired rows of the whole table: one
  // limiter per process schedules it, not every one.
  let cleanerAssigned = false;
  return (spec) => {
    const keyPrefix = backend.kind === 'redis' ? `${backend.prefix}rl:${spec.name}` : `rl:${spec.name}`;
    const options = { keyPrefix, points: spec.points, duration: spec.duration };
    const memory = new RateLimiterMemory(options);
    let shared: RateLimiterAbstract;
    switch (backend.kind) {
      case 'memory':
        return memory;
      case 'redis':
        shared = new RateLimiterRedis({
          ...options,
          storeClient: backend.redis,
          // Don't queue behind a reconnect: fail at once so the insurance answers.
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
    const insured = new RLWrapperTimeouts({
      limiter: shared,
      timeoutMs: SHARED_LIMITER_TIMEOUT_MS,
      insuranceLimiter: memory,
    });
    return insured as unknown as RateLimiterAbstract;
  };
}
