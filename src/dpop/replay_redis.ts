import type { EventBus } from '../events.js';
import { emitSignal } from '../facts/publisher.js';
import type { RedisClient } from '../redis/connect.js';
import { type ReplayCache, replayKey } from './replay.js';

/**
 * The replay cache on the shared Redis: `SET key 1 PX ttl NX` answers OK to exactly one claim
 * across every instance. While Redis fails, claims go to the Postgres cache instead (slower), and
 * for one proof lifetime after the last failure they go to both, so a proof accepted during the
 * outage is not accepted again once Redis is back. docs/dpop.md names the one gap: instances that
 * see Redis differently at the same moment.
 */
export class RedisReplayCache implements ReplayCache {
  private fellBackAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: {
      redis: RedisClient;
      /** REDIS_KEY_PREFIX. */
      prefix: string;
      fallback: ReplayCache;
      events: EventBus;
      now: () => number;
      /** The longest a proof is acceptable (ms): how long the fallback's claims matter. */
      proofLifetimeMs: number;
    },
  ) {}

  async claim(id: string, ttlMs: number): Promise<boolean> {
    const { deps } = this;
    const key = `${deps.prefix}dpop:${replayKey(id)}`;
    let first: boolean;
    try {
      first = (await deps.redis.set(key, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
    } catch (err) {
      emitSignal(deps.events, 'dependency.degraded', { dependency: 'redis', err });
      this.fellBackAt = deps.now();
      return deps.fallback.claim(id, ttlMs);
    }
    if (!first) return false;
    if (deps.now() - this.fellBackAt <= deps.proofLifetimeMs) return deps.fallback.claim(id, ttlMs);
    return true;
  }
}
