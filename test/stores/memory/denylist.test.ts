import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { MemoryDenylist } from '../../../src/stores/memory/denylist.js';
import type { Revocation, RevocationStore } from '../../../src/stores/types.js';
import { testClock } from '../../helpers/app.js';

const durable: RevocationStore = {
  record: async () => undefined,
  listLive: async () => [],
  anyRevoked: async () => false,
  purgeExpired: async () => 0,
};

test('expired entries are swept, so the in-process denylist does not grow without bound', async (t) => {
  const clock = testClock();
  const denylist = new MemoryDenylist(durable, clock.now, 20);
  await denylist.load();
  t.teardown(() => denylist.close());
  const soon = (i: number, seconds: number): Revocation => ({
    kind: 'jti',
    value: `t${i}`,
    expiresAt: new Date(clock.now() + seconds * 1000),
    reason: 'test',
  });
  // Never looked up again: only a sweep can drop them.
  await denylist.add(Array.from({ length: 1000 }, (_, i) => soon(i, 60)));
  await denylist.add([soon(-1, 3600)]);
  t.is(denylist.size, 1001);
  clock.advance(61);
  await sleep(80);
  t.is(denylist.size, 1, 'only the entry still in force is kept');
  t.true(await denylist.isRevoked('t-1', undefined));
  t.false(await denylist.isRevoked('t5', undefined));
});
