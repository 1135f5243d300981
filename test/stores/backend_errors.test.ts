import test from 'ava';
import { StoreError } from '../../src/errors.js';
import { guarded, isConnectionFailure } from '../../src/stores/backend_errors.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

test('connection failures: network codes, SQLSTATE 08/57P0x, pool timeouts, closed connections', (t) => {
  for (const err of [
    withCode('ECONNREFUSED'),
    withCode('ECONNRESET'),
    withCode('08006'),
    withCode('57P01'),
    Object.assign(new Error('Knex: Timeout acquiring a connection'), { name: 'KnexTimeoutError' }),
    new Error('Connection terminated unexpectedly'),
    // knex reports a transaction's failed ROLLBACK on a broken pooled client in place of its error.
    new Error('ROLLBACK - Client has encountered a connection error and is not queryable'),
    new Error('Client was closed and is not queryable'),
  ]) {
    t.true(isConnectionFailure(err), err.message);
  }
});

test('query errors are not connection failures', (t) => {
  t.false(isConnectionFailure(withCode('23505', 'duplicate key')));
  t.false(isConnectionFailure(withCode('42P01', 'relation does not exist')));
  t.false(isConnectionFailure(new TypeError('bug')));
  t.false(isConnectionFailure('not an error'));
});

class FakeStore {
  #calls = 0;
  constructor(private readonly failure: unknown) {}
  async read(): Promise<number> {
    this.#calls++;
    throw this.failure;
  }
  async ok(): Promise<number> {
    return ++this.#calls;
  }
  sync(): string {
    return 'sync';
  }
}

test('guarded: an outage leaves the store as StoreError unavailable naming the dependency', async (t) => {
  const driver = withCode('ECONNREFUSED');
  const store = guarded(new FakeStore(driver), 'redis');
  const err = await t.throwsAsync<StoreError>(() => store.read());
  t.true(err instanceof StoreError);
  t.is(err?.code, 'unavailable');
  t.is(err?.dependency, 'redis');
  t.is(err?.cause, driver);
});

test('guarded: other errors, results, sync members and private fields pass through', async (t) => {
  const bug = new TypeError('bug');
  const store = guarded(new FakeStore(bug), 'database');
  t.is(await t.throwsAsync(() => store.read()), bug);
  t.is(await store.ok(), 2);
  t.is(store.sync(), 'sync');
  const conflict = new StoreError('conflict', 'lost a race');
  t.is(await t.throwsAsync(() => guarded(new FakeStore(conflict), 'database').read()), conflict);
});

test('guarded: a lost race is StoreError conflict, a taken key StoreError exists', async (t) => {
  for (const [state, kind] of [
    ['40001', 'conflict'],
    ['40P01', 'conflict'],
    ['55P03', 'conflict'],
    ['23505', 'exists'],
  ] as const) {
    const driver = withCode(state);
    const err = await t.throwsAsync<StoreError>(() => guarded(new FakeStore(driver), 'database').read());
    t.true(err instanceof StoreError, state);
    t.is(err?.code, kind, state);
    t.is(err?.cause, driver);
  }
});
