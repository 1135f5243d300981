import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { Redis } from 'ioredis';
import { MemoryReplayCache } from '../../src/dpop/replay.js';
import { PostgresReplayCache } from '../../src/dpop/replay_postgres.js';
import { RedisReplayCache } from '../../src/dpop/replay_redis.js';
import { EventBus } from '../../src/events.js';
import { TEST_REDIS_PREFIX, testClock, useServer } from '../helpers/app.js';
import { createTestDatabase, fileDatabase } from '../helpers/database.js';
import { dpopKey, proof } from '../helpers/dpop.js';
import { basic, createClient, postForm } from '../helpers/oauth.js';
import { deletePrefix, hasRedisServer, startRedis } from '../helpers/redis.js';

// The replay cache of each backend for real (RFC 9449 §11.1), and a proof's jti used on one
// instance refused on another: shared Redis, and Postgres alone.
const withRedis = process.env.REDIS_URL ? test : test.skip;
const withPostgres = process.env.DATABASE_URL ? test.serial : test.serial.skip;
const needsRedisServer = hasRedisServer ? test : test.skip;
const ISSUER = 'http://tessera.test';

test.after.always(async () => {
  if (process.env.REDIS_URL) await deletePrefix(process.env.REDIS_URL, TEST_REDIS_PREFIX);
});

test('memory: a claim once per lifetime, then again after it expired', async (t) => {
  const clock = testClock();
  const cache = new MemoryReplayCache(clock.now);
  t.true(await cache.claim('a', 1000));
  t.false(await cache.claim('a', 1000));
  t.true(await cache.claim('b', 1000));
  clock.advance(1.001);
  t.true(await cache.claim('a', 1000));
});

test('postgres: two caches on one database; one winner among concurrent claims; expiry; purge', async (t) => {
  const { db } = await fileDatabase();
  const clock = testClock();
  const a = new PostgresReplayCache(db, clock.now);
  const b = new PostgresReplayCache(db, clock.now);
  const id = randomUUID();
  t.true(await a.claim(id, 2000));
  t.false(await b.claim(id, 2000));
  const racing = randomUUID();
  const wins = await Promise.all([a.claim(racing, 2000), b.claim(racing, 2000), a.claim(racing, 2000)]);
  t.is(wins.filter(Boolean).length, 1);
  clock.advance(2.001);
  t.true(await b.claim(id, 2000), 'an expired entry may be claimed again');
  clock.advance(2.001);
  t.true((await a.purge()) >= 1);
  const [row] = await db('dpop_proofs').count<{ n: string }[]>({ n: '*' });
  t.is(Number(row?.n), 0);
});

withRedis(
  'redis: two caches on one Redis (separate fallbacks): the second claim is refused by Redis',
  async (t) => {
    const url = process.env.REDIS_URL as string;
    const r1 = new Redis(url);
    const r2 = new Redis(url);
    t.teardown(() => {
      r1.disconnect();
      r2.disconnect();
    });
    const clock = testClock();
    const make = (redis: Redis) =>
      new RedisReplayCache({
        redis,
        prefix: TEST_REDIS_PREFIX,
        fallback: new MemoryReplayCache(clock.now),
        events: new EventBus(),
        now: clock.now,
        proofLifetimeMs: 122_000,
      });
    const [a, b] = [make(r1), make(r2)];
    const id = randomUUID();
    t.true(await a.claim(id, 1000));
    t.false(await b.claim(id, 1000));
    const ttl = await r1.pttl(
      `${TEST_REDIS_PREFIX}dpop:${(await import('../../src/dpop/replay.js')).replayKey(id)}`,
    );
    t.true(ttl > 0 && ttl <= 1000, `expires with the proof (${ttl} ms)`);
  },
);

needsRedisServer(
  'redis down: claims go to Postgres; back up, a proof claimed during the outage stays claimed [needs redis-server]',
  async (t) => {
    const server = await startRedis();
    t.teardown(() => server.stop());
    const database = await createTestDatabase();
    t.teardown(() => database.drop());
    const redis = new Redis(server.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
    });
    t.teardown(() => redis.disconnect());
    redis.on('error', () => undefined);
    const events = new EventBus();
    const degraded: string[] = [];
    events.on('dependency.degraded', (e) => degraded.push(e.dependency));
    const cache = new RedisReplayCache({
      redis,
      prefix: 'replay:',
      fallback: new PostgresReplayCache(database.db, Date.now),
      events,
      now: Date.now,
      proofLifetimeMs: 122_000,
    });
    await sleep(200);
    await server.stop();
    const during = randomUUID();
    t.true(await cache.claim(during, 60_000));
    t.deepEqual(degraded, ['redis']);
    t.false(await cache.claim(during, 60_000), 'Postgres refuses the replay while Redis is down');
    await server.start();
    for (let i = 0; i < 100 && redis.status !== 'ready'; i++) await sleep(50);
    t.is(redis.status, 'ready');
    t.false(await cache.claim(during, 60_000), 'Redis is empty, but the Postgres claim still counts');
    const after = randomUUID();
    t.true(await cache.claim(after, 60_000));
    t.false(await cache.claim(after, 60_000));
  },
);

async function twoInstancesRefuseReplays(t: import('ava').ExecutionContext, env: Record<string, string>) {
  const database = await createTestDatabase();
  const a = await useServer(t, { database, env });
  const b = await useServer(t, { database, env });
  t.teardown(() => database.drop());
  const svc = await createClient(a, { name: 'svc', grantTypes: ['client_credentials'] });
  const key = await dpopKey();
  const p = await proof(key, { htu: `${ISSUER}/token` });
  const ask = (s: typeof a) =>
    postForm(
      `${s.url}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic(svc.client_id, svc.client_secret ?? ''), dpop: p },
    );
  const first = await ask(a);
  t.is(first.status, 200, JSON.stringify(first.body));
  const second = await ask(b);
  t.is(second.status, 400);
  t.is(second.body.error, 'invalid_dpop_proof');
  return { a, b };
}

withRedis('two instances on one Redis: a proof used on A is refused on B', async (t) => {
  const { a } = await twoInstancesRefuseReplays(t, {});
  t.true(a.services.dpopReplay instanceof RedisReplayCache);
});

withPostgres(
  'two instances on Postgres alone: a proof used on A is refused on B [needs DATABASE_URL]',
  async (t) => {
    const { a } = await twoInstancesRefuseReplays(t, { REDIS_URL: '', REDIS_CLUSTER_NODES: '' });
    t.is(a.services.mode, 'postgres');
    t.false(a.services.dpopReplay instanceof RedisReplayCache);
    t.false(a.services.dpopReplay instanceof MemoryReplayCache);
  },
);
