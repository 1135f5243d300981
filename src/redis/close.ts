import type { RedisClient } from './connect.js';

/** QUIT lets pending replies arrive; a dead connection would never answer, so it is bounded. */
const QUIT_TIMEOUT_MS = 1000;

/** Closes a Redis client (single node or Cluster) without ever hanging shutdown. */
export async function closeRedis(client: RedisClient): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
  });
  try {
    if (client.status === 'ready') await Promise.race([client.quit().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
    // Stops the reconnect loop whatever state the connection is in.
    client.disconnect();
  }
}
