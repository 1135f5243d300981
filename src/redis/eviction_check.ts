import type { Logger } from 'pino';
import type { RedisClient } from './connect.js';

/**
 * Denylist entries carry a TTL and the readiness marker does not, so any eviction policy other
 * than `noeviction` could silently drop revocations while the marker survives (docs/redis.md).
 * Managed Redis often forbids CONFIG: then nothing is known and nothing is said.
 */
export async function warnIfRedisMayEvict(redis: RedisClient, log: Logger): Promise<string | undefined> {
  try {
    const nodes = 'nodes' in redis && typeof redis.nodes === 'function' ? redis.nodes('master') : [redis];
    for (const node of nodes) {
      const reply = (await node.call('CONFIG', 'GET', 'maxmemory-policy')) as string[];
      const policy = reply[1];
      if (policy && policy !== 'noeviction') {
        log.warn(
          { policy },
          'Redis maxmemory-policy is not noeviction: revocations could be evicted; set maxmemory-policy noeviction',
        );
        return policy;
      }
    }
  } catch {
    // CONFIG not permitted or Redis unreachable: the denylist's own fallbacks apply.
  }
  return undefined;
}
