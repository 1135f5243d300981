import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { loadConfig } from '../../src/config.js';
import { ClientBudget, sliceSize } from '../../src/http/client_budget.js';
import type { Limiter } from '../../src/http/limiter_store.js';
import { type LimiterBackend, limiterFactory } from '../../src/http/limiter_store.js';
import { closeRedis } from '../../src/redis/close.js';
import { connectRedis } from '../../src/redis/connect.js';
import { TEST_REDIS_PREFIX } from '../helpers/app.js';
import { fileDatabase } from '../helpers/database.js';
import { deletePrefix } from '../helpers/redis.js';

/**
 * The shared counter these budgets slice: Redis with REDIS_URL, else the Postgres store with
 * DATABASE_URL — the stores the production modes use — else process memory, as embedded.
 */
async function sharedBackend(t: ExecutionContext): Promise<LimiterBackend> {
  if (process.env.REDIS_URL) {
    const redis = connectRedis(loadConfig({ REDIS_URL: process.env.REDIS_URL }));
    if (!redis) throw new Error('REDIS_URL');
    const prefix = `${TEST_REDIS_PREFIX}${randomBytes(4).toString('hex')}:`;
    await new Promise((r) => (redis.status === 'ready' ? r(undefined) : redis.once('ready', r)));
    t.teardown(async () => {
      await closeRedis(redis);
      await deletePrefix(process.env.REDIS_URL as string, prefix);
    });
    return { kind: 'redis', redis, prefix };
  }
  if (process.env.DATABASE_URL) return { kind: 'postgres', db: (await fileDatabase()).db };
  return { kind: 'memory' };
}

/** n instances' limiters on one shared counter (each process builds its own limiter objects). */
async function instances(t: ExecutionContext, n: number, limit: number) {
  const backend = await sharedBackend(t);
  const name = `budget_${randomBytes(4).toString('hex')}`;
  const limiters: Limiter[] = [];
  const budgets: ClientBudget[] = [];
  // In memory the counter is the one object (one process); a shared store is reached by each.
  const memory =
    backend.kind === 'memory' ? limiterFactory(backend)({ name, points: limit, duration: 60 }) : undefined;
  for (let i = 0; i < n; i++) {
    const limiter = memory ?? limiterFactory(backend)({ name, points: limit, duration: 60 });
    limiters.push(limiter);
    const budget = new ClientBudget(limiter, limit, 60_000);
    t.teardown(() => budget.close());
    budgets.push(budget);
  }
  const counted = async (key: string) => (await (limiters[0] as Limiter).get(key))?.consumedPoints ?? 0;
  return { budgets, counted };
}

test('slice = max(1, floor(limit × 1%)): exact under 200', (t) => {
  t.is(sliceSize(1), 1);
  t.is(sliceSize(199), 1);
  t.is(sliceSize(200), 2);
  t.is(sliceSize(1200), 12);
});

test.serial('requests are counted locally, the shared counter one slice at a time', async (t) => {
  const { budgets, counted } = await instances(t, 1, 1000);
  const [budget] = budgets as [ClientBudget];
  for (let i = 0; i < 95; i++) t.true((await budget.take('c1')).allowed);
  t.is(await counted('c1'), 100, '10 slices of 10 taken for 95 requests');
  await budget.flush();
  t.is(await counted('c1'), 95, 'flush gives the unused slice back');
});

test.serial('a limit under 200 stays exact: every request reaches the shared counter', async (t) => {
  const { budgets, counted } = await instances(t, 2, 150);
  for (let i = 0; i < 7; i++) await (budgets[i % 2] as ClientBudget).take('c2');
  t.is(await counted('c2'), 7);
  const answers = [];
  for (let i = 0; i < 160; i++) answers.push(await (budgets[i % 2] as ClientBudget).take('c2'));
  t.is(answers.filter((a) => a.allowed).length, 150 - 7, 'exactly the limit');
});

test.serial(
  'n instances never serve more than limit + n×b in a window, nor refuse before limit − n×b',
  async (t) => {
    const n = 3;
    const limit = 1000;
    const b = sliceSize(limit);
    const { budgets, counted } = await instances(t, n, limit);
    let allowed = 0;
    let firstRefusal: number | undefined;
    // Concurrent bursts from every instance, more than the limit in total.
    for (let round = 0; round < 30; round++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (budgets[(round + i) % n] as ClientBudget).take('c3')),
      );
      for (const a of answers) {
        if (a.allowed) allowed++;
        else firstRefusal ??= allowed;
      }
    }
    t.true(allowed <= limit + n * b, `served ${allowed}`);
    t.true(allowed >= limit - n * b, `served ${allowed}`);
    t.true(
      firstRefusal !== undefined && firstRefusal >= limit - n * b,
      `first refusal after ${firstRefusal}`,
    );
    t.true((await counted('c3')) >= allowed, 'the shared counter saw every request served');
    const refused = await (budgets[0] as ClientBudget).take('c3');
    t.false(refused.allowed);
    if (!refused.allowed) t.true(refused.retryAfterMs > 0 && refused.retryAfterMs <= 60_000);
  },
);

test.serial('an idle slice goes back to the shared counter (periodic synchronisation)', async (t) => {
  const backend = await sharedBackend(t);
  const limiter = limiterFactory(backend)({
    name: `idle_${randomBytes(4).toString('hex')}`,
    points: 1000,
    duration: 60,
  });
  const budget = new ClientBudget(limiter, 1000, 100);
  t.teardown(() => budget.close());
  await budget.take('c4');
  t.is((await limiter.get('c4'))?.consumedPoints, 10);
  await sleep(400);
  t.is((await limiter.get('c4'))?.consumedPoints, 1);
});
