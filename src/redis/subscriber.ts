import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './connect.js';

/**
 * A dedicated connection for Redis pub/sub, duplicated from the shared client (a subscribed
 * connection can run no other command). Plain SUBSCRIBE works on a Cluster too: a PUBLISH on any
 * node reaches the subscribers of every node over the cluster bus.
 *
 * Unlike the shared client (which fails fast so callers fall back), the subscriber queues its
 * SUBSCRIBE until connected and never times it out: it lives for the whole process, and ioredis
 * re-subscribes after every reconnection. Messages sent while it was disconnected are lost, so
 * every user treats a reconnection ('ready' after the first) as "you may have missed something".
 */
export function subscriberConnection(publisher: RedisClient): RedisClient {
  const overrides = { enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined };
  return publisher instanceof Cluster
    ? // A Cluster has its own offline queue: without it SUBSCRIBE fails while the slot map
      // loads ("Cluster isn't ready") and the subscriber would never hear anything.
      publisher.duplicate(undefined, {
        enableOfflineQueue: true,
        redisOptions: { ...publisher.options.redisOptions, ...overrides },
      })
    : (publisher as Redis).duplicate(overrides);
}
