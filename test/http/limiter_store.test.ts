import { randomBytes } from 'node:crypto';
import test from 'ava';
import { Redis } from 'ioredis';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { type Limiter, limiterFactory } from '../../src/http/limiter_store.js';
import { hasRedisServer, startRedis } from '../helpers/redis.js';

// The shared limiters' fallback, on a real redis-server of this file's own (paused with SIGSTOP to
// play a hung store, flushed to play a failover that lost its counters).
const needsRedisServer = hasRedisServer ? test : test.skip;

async function consumed(limiter: Limiter, key: string): Promise<{ over: boolean; points: number }> {
  try {
    return { over: false, points: (await limiter.consume(key)).consumedPoints };
  } catch (err) {
    if (err instanceof RateLimiterRes) return { over: true, points: err.consumedPoints };
    throw err;
  }
}

async function setup(t: import('ava').ExecutionContext, points: number) {
  const server = await startRedis();
  const redis = new Redis(server.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  t.teardown(async () => {
    server.resume();
    redis.disconnect();
    await server.stop();
  });
  await redis.ping();
  const limiter = limiterFactory({ kind: 'redis', redis, prefix: `t${randomBytes(3).toString('hex')}:` })({
    name: 'gate',
    points,
    duration: 60,
  });
  return { server, redis, limiter };
}

needsRedisServer(
  'a call the hung store misses is still counted: the fallback starts from this process’s count, not from zero [needs redis-server]',
  async (t) => {
    const { server, limiter } = await setup(t, 2);
    t.deepEqual(await consumed(limiter, 'pair'), { over: false, points: 1 });
    t.deepEqual(await consumed(limiter, 'pair'), { over: false, points: 2 });
    server.pause();
    // Redis accepts the command and never answers: after the timeout the local count decides, and it
    // has seen both earlier calls, so this third one is over the limit (an insurance limiter that
    // counted only missed calls answered 1 here, and a burst got past the login limit).
    const started = Date.now();
    t.deepEqual(await consumed(limiter, 'pair'), { over: true, points: 3 });
    t.true(Date.now() - started < 2000, 'answered after the timeout, not after the store');
    server.resume();
  },
);

needsRedisServer(
  'a store that lost its counters (flush, failover) is no looser than the process’s own count [needs redis-server]',
  async (t) => {
    const { redis, limiter } = await setup(t, 2);
    await consumed(limiter, 'pair');
    await consumed(limiter, 'pair');
    await redis.flushall();
    t.deepEqual(await consumed(limiter, 'pair'), { over: true, points: 3 });
    // get answers the stricter count too; a refund never takes the local count below zero.
    t.is((await limiter.get('pair'))?.consumedPoints, 3);
    await limiter.delete('pair');
    t.is(await limiter.get('pair'), null);
    await limiter.reward('pair', 1);
    t.deepEqual(await consumed(limiter, 'pair'), { over: false, points: 1 });
  },
);

needsRedisServer(
  'with the store healthy, the shared count answers: another process’s attempts count here [needs redis-server]',
  async (t) => {
    const { redis, limiter } = await setup(t, 2);
    const prefixOf = (await redis.keys('*')).length;
    t.is(prefixOf, 0);
    await consumed(limiter, 'pair');
    // A second limiter on the same store and names: another instance.
    const keys = await redis.keys('*');
    t.is(keys.length, 1);
    await redis.incr(keys[0] as string);
    t.deepEqual(await consumed(limiter, 'pair'), { over: true, points: 3 });
  },
);
