import test from 'ava';
import { CachedClientStore, CLIENT_CACHE_TTL_MS } from '../../src/stores/cached_clients.js';
import { PostgresClientStore } from '../../src/stores/postgres/clients.js';
import { testClock } from '../helpers/app.js';
import { fileDatabase } from '../helpers/database.js';
import { newClient } from '../helpers/records.js';

const record = (id: string) => newClient(id);

test('disabling through the cache is seen at once; through another instance within the TTL', async (t) => {
  const { db } = await fileDatabase();
  const clock = testClock();
  // Each instance: its client table, and its cache in front of it for the hot paths.
  const tableA = new PostgresClientStore(db, 'http://tessera.test');
  const a = new CachedClientStore(tableA, clock.now);
  const b = new CachedClientStore(new PostgresClientStore(db, 'http://tessera.test'), clock.now);
  await tableA.create(record('c_cache_1'));
  t.true(await a.isActive('c_cache_1'));
  t.true(await b.isActive('c_cache_1'));

  await tableA.disable('c_cache_1', new Date(clock.now()));
  t.false(await a.isActive('c_cache_1'), 'the disabling instance forgets its copy');
  t.true(await b.isActive('c_cache_1'), 'another instance may serve its copy until the TTL');
  clock.advance(CLIENT_CACHE_TTL_MS / 1000 + 0.001);
  t.false(await b.isActive('c_cache_1'), 'and no longer after it');
});

test('unknown clients are inactive and cached as unknown for the TTL only', async (t) => {
  const { db } = await fileDatabase();
  const clock = testClock();
  const cache = new CachedClientStore(new PostgresClientStore(db, 'http://tessera.test'), clock.now);
  t.false(await cache.isActive('c_cache_late'));
  await new PostgresClientStore(db, 'http://tessera.test').create(record('c_cache_late'));
  clock.advance(CLIENT_CACHE_TTL_MS / 1000 + 0.001);
  t.true(await cache.isActive('c_cache_late'));
});

test('when full, the least recently used id goes, not every cached client at once', async (t) => {
  const { db } = await fileDatabase();
  const clock = testClock();
  const inner = new PostgresClientStore(db, 'http://tessera.test');
  let reads = 0;
  const counting = Object.assign(Object.create(inner), {
    findById: (id: string) => {
      reads++;
      return inner.findById(id);
    },
  });
  const cache = new CachedClientStore(counting, clock.now, CLIENT_CACHE_TTL_MS, 3);
  await inner.create(record('c_lru_hot'));
  t.true(await cache.isActive('c_lru_hot'));
  for (const id of ['c_lru_x1', 'c_lru_x2', 'c_lru_x3', 'c_lru_x4']) {
    await cache.isActive(id);
    t.true(await cache.isActive('c_lru_hot'), 'the client in use stays');
  }
  t.is(cache.size, 3, 'bounded');
  t.is(reads, 5, 'one database read per distinct id: the hot client was never evicted');
});
