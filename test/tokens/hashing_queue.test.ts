import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { OAuthError } from '../../src/errors.js';
import { HashingQueue } from '../../src/tokens/hashing_queue.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

test('at most `concurrency` tasks run; the rest start in arrival order', async (t) => {
  const queue = new HashingQueue({ concurrency: 2, maxWaitMs: 5000, maxQueued: 10 });
  const gates = Array.from({ length: 5 }, deferred);
  const started: number[] = [];
  const runs = gates.map((g, i) =>
    queue.run(async () => {
      started.push(i);
      await g.promise;
    }),
  );
  await sleep(10);
  t.deepEqual(started, [0, 1]);
  t.deepEqual(queue.load, { running: 2, waiting: 3 });
  gates[1]?.resolve();
  await sleep(10);
  t.deepEqual(started, [0, 1, 2]);
  for (const g of gates) g.resolve();
  await Promise.all(runs);
  t.deepEqual(queue.load, { running: 0, waiting: 0 });
});

test('a task that waits too long is refused with 503 and Retry-After, and never runs', async (t) => {
  const queue = new HashingQueue({ concurrency: 1, maxWaitMs: 50, maxQueued: 10 });
  const hold = deferred();
  const first = queue.run(() => hold.promise);
  let ran = false;
  const err = await t.throwsAsync(
    queue.run(async () => {
      ran = true;
    }),
    { instanceOf: OAuthError },
  );
  t.is(err?.status, 503);
  t.is(err?.error, 'temporarily_unavailable');
  t.is(err?.headers['Retry-After'], '1');
  t.false(ran);
  hold.resolve();
  await first;
  t.deepEqual(queue.load, { running: 0, waiting: 0 });
});

test('beyond maxQueued waiting tasks, a new one is refused at once; a failing task frees its slot', async (t) => {
  const queue = new HashingQueue({ concurrency: 1, maxWaitMs: 5000, maxQueued: 1 });
  const hold = deferred();
  const first = queue.run(() => hold.promise);
  const second = queue.run(async () => {
    throw new Error('argon2 failed');
  });
  await t.throwsAsync(
    queue.run(async () => undefined),
    { instanceOf: OAuthError },
  );
  hold.resolve();
  await first;
  await t.throwsAsync(second, { message: 'argon2 failed' });
  t.is(await queue.run(async () => 42), 42);
});
