import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { PostgresListener } from '../../src/db/notifications.js';
import { EventBus } from '../../src/events.js';
import { KEYS_CHANNEL, PostgresKeyChangeSignal } from '../../src/keys/postgres_signal.js';
import { NotifiedDenylist } from '../../src/stores/postgres/notified_denylist.js';
import { PostgresRevocationStore } from '../../src/stores/postgres/revocations.js';
import type { Revocation } from '../../src/stores/types.js';
import { fileDatabase } from '../helpers/database.js';

// LISTEN/NOTIFY needs a Postgres server: these run in the real-services mode (DATABASE_URL).
const run = process.env.DATABASE_URL ? test.serial : test.skip;
const tag = process.env.DATABASE_URL ? '' : ' [needs DATABASE_URL]';

async function instance(t: import('ava').ExecutionContext) {
  const database = await fileDatabase();
  const notifications = new PostgresListener(database.url as string);
  const durable = new PostgresRevocationStore(database.db);
  const denylist = new NotifiedDenylist({ durable, notifications, events: new EventBus(), now: Date.now });
  await denylist.load();
  t.teardown(async () => {
    await denylist.close();
    await notifications.close();
  });
  return { denylist, notifications, durable, db: database.db };
}

const sid = (): Revocation => ({
  kind: 'sid',
  value: randomUUID(),
  expiresAt: new Date(Date.now() + 60_000),
});

/** Polls until `check` holds; returns the elapsed milliseconds, or fails after `limitMs`. */
async function within(limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > limitMs) throw new Error(`not within ${limitMs} ms`);
    await sleep(2);
  }
  return performance.now() - started;
}

run(`a revocation made on one instance is seen from the other's cache within 1 s${tag}`, async (t) => {
  const a = await instance(t);
  const b = await instance(t);
  t.true(b.denylist.trusted(), 'the cache is loaded and its listener current');
  const e = sid();
  await a.denylist.add([e]);
  const ms = await within(1000, () => b.denylist.isRevoked(randomUUID(), e.value));
  t.log(`propagation: ${ms.toFixed(1)} ms`);
  t.true(b.denylist.trusted(), 'answered from the cache, not by reading the table');
});

run(`a row written by any other writer (CLI, previous release) reaches the cache${tag}`, async (t) => {
  const b = await instance(t);
  const value = randomUUID();
  await b.db('revocations').insert({
    kind: 'jti',
    value,
    expires_at: new Date(Date.now() + 60_000),
    created_at: new Date(),
  });
  await within(1000, () => b.denylist.isRevoked(value, undefined));
  t.pass();
});

run(`a lost listening connection: reads go to the table, then the cache is rebuilt${tag}`, async (t) => {
  const b = await instance(t);
  const downs: unknown[] = [];
  b.notifications.onDown((err) => downs.push(err));
  // Kill the listening session from the server side, then revoke while it reconnects: that
  // notification is lost, so only a rebuild from the table can teach the cache about it.
  await b.db.raw(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tessera-listener' AND datname = current_database()",
  );
  await within(1000, async () => downs.length > 0);
  t.false(b.denylist.trusted());
  const missed = sid();
  await b.durable.record([missed], new Date());
  t.true(await b.denylist.isRevoked(randomUUID(), missed.value), 'answered from the table meanwhile');
  await within(5000, async () => b.denylist.trusted());
  t.true(await b.denylist.isRevoked(randomUUID(), missed.value), 'the rebuilt cache has it');
});

run(
  `the key signal reaches every listening process, and a reconnection asks for a reload${tag}`,
  async (t) => {
    const database = await fileDatabase();
    const listener = new PostgresListener(database.url as string);
    const receiving = new PostgresKeyChangeSignal(database.db, listener);
    const publishing = new PostgresKeyChangeSignal(database.db, undefined);
    t.teardown(async () => {
      await receiving.close();
      await listener.close();
    });
    await receiving.ready();
    let reloads = 0;
    receiving.subscribe(() => reloads++);
    await publishing.publish();
    const ms = await within(3000, async () => reloads === 1);
    t.log(`key signal: ${ms.toFixed(1)} ms`);
    await database.db.raw(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tessera-listener' AND datname = current_database()",
    );
    await within(5000, async () => reloads >= 2);
    t.is(KEYS_CHANNEL, 'tessera_keys');
  },
);
