import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';

export type RedisClient = Redis | Cluster;

/**
 * Opens the configured Redis: REDIS_CLUSTER_NODES → ioredis Cluster, else REDIS_URL (redis:// or
 * rediss:// for TLS, password in the URL or REDIS_PASSWORD, docs/redis.md). Commands fail fast while
 * disconnected (no offline queue, bounded retries) so callers can fall back instead of hanging a
 * request.
 */
export function connectRedis(config: Config, overrides: RedisOptions = {}): RedisClient | undefined {
  const options: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    // Reconnect forever with a capped backoff: recovery needs no restart.
    retryStrategy: (times) => Math.min(times * 100, 2000),
    lazyConnect: false,
    ...(config.redisPassword ? { password: config.redisPassword } : {}),
    ...overrides,
  };
  if (config.redisClusterNodes && config.redisClusterNodes.length > 0) {
    const nodes = config.redisClusterNodes.map((n) => {
      const tls = n.startsWith('rediss://');
      const [host, port] = n.replace(/^rediss?:\/\//, '').split(':');
      return { host: host as string, port: Number(port), tls };
    });
    return new Cluster(
      nodes.map(({ host, port }) => ({ host, port })),
      {
        enableOfflineQueue: false,
        clusterRetryStrategy: (times) => Math.min(times * 100, 2000),
        redisOptions: { ...options, ...(nodes[0]?.tls ? { tls: {} } : {}) },
      },
    );
  }
  if (config.redisUrl) return new Redis(config.redisUrl, options);
  return undefined;
}
