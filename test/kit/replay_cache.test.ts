import test from 'ava';
import { MemoryReplayCache, ReplayCacheFull } from '../../packages/resource-server/src/index.js';

// The kit's in-memory replay cache (RFC 9449 §11.1) is bounded: full of live proofs, it refuses
// new ones (the kit answers 503) rather than forget one, which would reopen a replay window.
test('the memory replay cache refuses a seen id, frees expired ones, and is bounded', async (t) => {
  let now = 1_000_000;
  const cache = new MemoryReplayCache(2, () => now);
  t.true(await cache.claim('a', 1000));
  t.false(await cache.claim('a', 1000), 'a replay');
  t.true(await cache.claim('b', 5000));
  await t.throwsAsync(cache.claim('c', 1000), { instanceOf: ReplayCacheFull });
  t.is(cache.size, 2);
  now += 1001;
  t.true(await cache.claim('c', 1000), 'the expired entry made room');
  t.false(await cache.claim('b', 1000), 'a live entry is never evicted');
  await t.throwsAsync(cache.claim('a', 1000), { instanceOf: ReplayCacheFull }, 'still full of live ids');
  now += 5000;
  t.true(await cache.claim('a', 1000), 'an expired id is accepted again');
});
