import test from 'ava';
import { OAuthError } from '../../src/errors.js';
import { HashingBusy, HashingQueue, type QueueTimers } from '../../src/tokens/hashing_queue.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

/** Timers that fire only when the test says so. */
function fakeTimers() {
  const pending = new Map<number, { run: () => void; at: number }>();
  let next = 0;
  let now = 0;
  const timers: QueueTimers = {
    setTimeout: (run, ms) => {
      pending.set(++next, { run, at: now + ms });
      return next;
    },
    clearTimeout: (handle) => pending.delete(handle as number),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const [id, timer] of [...pending]) {
      if (timer.at > now) continue;
      pending.delete(id);
      timer.run();
    }
  };
  return { timers, advance, pending: () => pending.size };
}

/** Lets every promise continuation that is ready run (one macrotask turn, not a wall-clock wait). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test('at most `concurrency` tasks run; the rest start in arrival order', async (t) => {
  const queue = new HashingQueue({ concurrency: 2, maxWaitMs: 5000, maxQueued: 10 }, fakeTimers().timers);
  const gates = Array.from({ length: 5 }, deferred);
  const started: number[] = [];
  const runs = gates.map((g, i) =>
    queue.run(async () => {
      started.push(i);
      await g.promise;
    }),
  );
  await settle();
  t.deepEqual(started, [0, 1]);
  t.deepEqual(queue.load, { running: 2, waiting: 3 });
  gates[1]?.resolve();
  await settle();
  t.deepEqual(started, [0, 1, 2]);
  gates[0]?.resolve();
  await settle();
  t.deepEqual(started, [0, 1, 2, 3]);
  for (const g of gates) g.resolve();
  await Promise.all(runs);
  t.deepEqual(queue.load, { running: 0, waiting: 0 });
});

test('a task that waits too long is refused with 503 and Retry-After, and never runs', async (t) => {
  const clock = fakeTimers();
  const queue = new HashingQueue({ concurrency: 1, maxWaitMs: 2500, maxQueued: 10 }, clock.timers);
  const hold = deferred();
  const first = queue.run(() => hold.promise);
  let ran = false;
  const waiting = queue.run(async () => {
    ran = true;
  });
  const refused = t.throwsAsync(waiting, { instanceOf: HashingBusy });
  clock.advance(2499);
  await settle();
  t.deepEqual(queue.load, { running: 1, waiting: 1 }, 'still waiting just before maxWaitMs');
  clock.advance(1);
  const err = await refused;
  t.true(err instanceof OAuthError);
  t.is(err?.status, 503);
  t.is(err?.error, 'temporarily_unavailable');
  t.is(err?.headers['Retry-After'], '3');
  t.is(err?.retryAfterSeconds, 3);
  t.false(ran);
  t.deepEqual(queue.load, { running: 1, waiting: 0 });
  hold.resolve();
  await first;
  t.deepEqual(queue.load, { running: 0, waiting: 0 });
});

test('beyond maxQueued waiting tasks, a new one is refused at once; a failing task frees its slot', async (t) => {
  const clock = fakeTimers();
  const queue = new HashingQueue({ concurrency: 1, maxWaitMs: 5000, maxQueued: 1 }, clock.timers);
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
  t.is(clock.pending(), 0, 'a waiter that got its turn leaves no timer behind');
});
