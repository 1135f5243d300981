import { Writable } from 'node:stream';
import test from 'ava';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/observability.js';
import { warnIfRedisMayEvict } from '../../src/redis/eviction_check.js';
import { hasRedisServer, startRedis } from '../helpers/redis.js';

// Its own redis-server: CONFIG SET on the shared one would change it for every other test file.
(hasRedisServer ? test : test.skip)(
  'a Redis that may evict keys is reported at start; noeviction is not [needs redis-server]',
  async (t) => {
    const server = await startRedis();
    t.teardown(() => server.stop());
    const redis = new Redis(server.url);
    t.teardown(() => redis.disconnect());
    let logs = '';
    const log = createLogger(
      'warn',
      new Writable({
        write(chunk, _enc, done) {
          logs += chunk;
          done();
        },
      }),
    );
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    t.is(await warnIfRedisMayEvict(redis, log), 'allkeys-lru');
    t.regex(logs, /maxmemory-policy is not noeviction/);
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    t.is(await warnIfRedisMayEvict(redis, log), undefined);
  },
);
