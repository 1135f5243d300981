import { randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import { loadConfig } from '../../src/config.js';
import { PostgresListener } from '../../src/db/notifications.js';
import { EventBus } from '../../src/events.js';
import { closeRedis } from '../../src/redis/close.js';
import { connectRedis } from '../../src/redis/connect.js';
import { MemoryDenylist } from '../../src/stores/memory/denylist.js';
import { NotifiedDenylist } from '../../src/stores/postgres/notified_denylist.js';
import { PostgresRevocationStore } from '../../src/stores/postgres/revocations.js';
import { RedisDenylist } from '../../src/stores/redis/denylist.js';
import type { Denylist, Revocation, RevocationStore } from '../../src/stores/types.js';
import { TEST_REDIS_PREFIX, testClock } from '../helpers/app.js';
import { fileDatabase } from '../helpers/database.js';
import { deletePrefix } from '../helpers/redis.js';

/** One contract, every Denylist implementation (STYLE: store contract suites). */
interface Impl {
  name: string;
  available: boolean;
  make(durable: RevocationStore, now: () => number): Promise<{ denylist: Denylist; close(): Promise<void> }>;
}

const impls: Impl[] = [
  {
    name: 'memory',
    available: true,
    async make(durable, now) {
      const denylist = new MemoryDenylist(durable, now);
      await denylist.load();
      return { denylist, close: async () => undefined };
    },
  },
  {
    name: 'postgres-notify',
    available: Boolean(process.env.DATABASE_URL),
    async make(durable, now) {
      const url = (await fileDatabase()).url as string;
      const notifications = new PostgresListener(url);
      const denylist = new NotifiedDenylist({ durable, notifications, events: new EventBus(), now });
      await denylist.load();
      return {
        denylist,
        async close() {
          await denylist.close();
          await notifications.close();
        },
      };
    },
  },
  {
    name: 'redis',
    available: Boolean(process.env.REDIS_URL),
    async make(durable, now) {
      const prefix = `${TEST_REDIS_PREFIX}${randomBytes(4).toString('hex')}:`;
      const redis = connectRedis(loadConfig({ REDIS_URL: process.env.REDIS_URL }));
      if (!redis) throw new Error('REDIS_URL');
      const denylist = new RedisDenylist({ redis, durable, prefix, events: new EventBus(), now });
      await denylist.load();
      return {
        denylist,
        async close() {
          await closeRedis(redis);
          await deletePrefix(process.env.REDIS_URL as string, prefix);
        },
      };
    },
  },
];

const entry = (kind: 'jti' | 'sid', ms: number, now: number): Revocation => ({
  kind,
  value: randomUUID(),
  expiresAt: new Date(now + ms),
});

for (const impl of impls) {
  const run = impl.available ? test : test.skip;
  const tag = impl.available ? '' : ` [needs ${impl.name === 'redis' ? 'REDIS_URL' : 'DATABASE_URL'}]`;

  run(`${impl.name}: jti and sid entries block, others do not, durable record written${tag}`, async (t) => {
    const db = (await fileDatabase()).db;
    const durable = new PostgresRevocationStore(db);
    const clock = testClock();
    const { denylist, close } = await impl.make(durable, clock.now);
    t.teardown(close);
    const jti = entry('jti', 60_000, clock.now());
    const sid = entry('sid', 60_000, clock.now());
    await denylist.add([jti, sid]);
    t.true(await denylist.isRevoked(jti.value, undefined));
    t.true(await denylist.isRevoked(randomUUID(), sid.value), 'any token of a revoked session');
    t.false(await denylist.isRevoked(randomUUID(), randomUUID()));
    t.false(await denylist.isRevoked(sid.value, undefined), 'kinds do not mix');
    const live = await durable.listLive(new Date(clock.now()));
    t.true(live.some((e) => e.value === jti.value) && live.some((e) => e.value === sid.value));
  });

  run(`${impl.name}: an already expired entry is recorded but blocks nothing${tag}`, async (t) => {
    const durable = new PostgresRevocationStore((await fileDatabase()).db);
    const clock = testClock();
    const { denylist, close } = await impl.make(durable, clock.now);
    t.teardown(close);
    const dead = entry('jti', -1000, clock.now());
    await denylist.add([dead]);
    t.false(await denylist.isRevoked(dead.value, undefined));
  });

  run(`${impl.name}: the durable record is written first; if it fails nothing is cached${tag}`, async (t) => {
    const real = new PostgresRevocationStore((await fileDatabase()).db);
    const failing: RevocationStore = {
      record: async () => {
        throw new Error('database down');
      },
      listLive: (now) => real.listLive(now),
      anyRevoked: (keys, now) => real.anyRevoked(keys, now),
      purgeExpired: (now, batch) => real.purgeExpired(now, batch),
    };
    const clock = testClock();
    const { denylist, close } = await impl.make(failing, clock.now);
    t.teardown(close);
    const e = entry('jti', 60_000, clock.now());
    await t.throwsAsync(denylist.add([e]), { message: 'database down' });
    t.false(await denylist.isRevoked(e.value, undefined));
  });

  run(`${impl.name}: a new instance sees earlier revocations (rebuilt or shared)${tag}`, async (t) => {
    const durable = new PostgresRevocationStore((await fileDatabase()).db);
    const clock = testClock();
    const first = await impl.make(durable, clock.now);
    const e = entry('sid', 60_000, clock.now());
    await first.denylist.add([e]);
    await first.close();
    const second = await impl.make(durable, clock.now);
    t.teardown(second.close);
    t.true(await second.denylist.isRevoked(randomUUID(), e.value));
  });
}
