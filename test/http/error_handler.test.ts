import type { AddressInfo } from 'node:net';
import test from 'ava';
import Koa from 'koa';
import { type Dependency, StoreError } from '../../src/errors.js';
import { EventBus } from '../../src/events.js';
import { errorHandler } from '../../src/http/error_handler.js';

/** A bare app whose only route throws `err`, with the events the error handler emitted. */
async function answerTo(t: import('ava').ExecutionContext, err: unknown) {
  const events = new EventBus();
  const degraded: Dependency[] = [];
  const serverErrors: unknown[] = [];
  events.on('dependency.degraded', (e) => degraded.push(e.dependency));
  events.on('server.error', (e) => serverErrors.push(e.err));
  const app = new Koa();
  app.silent = true;
  app.use(errorHandler(events));
  app.use(() => {
    throw err;
  });
  const server = app.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`);
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: await res.json(),
    degraded,
    serverErrors,
  };
}

test('a Redis outage is a 503 counted against redis, not the database', async (t) => {
  const r = await answerTo(t, new StoreError('unavailable', 'redis unavailable', { dependency: 'redis' }));
  t.is(r.status, 503);
  t.is(r.body.error, 'temporarily_unavailable');
  t.truthy(r.retryAfter);
  t.deepEqual(r.degraded, ['redis']);
});

test('a database outage is a 503 counted against the database', async (t) => {
  const r = await answerTo(
    t,
    new StoreError('unavailable', 'database unavailable', { dependency: 'database' }),
  );
  t.is(r.status, 503);
  t.deepEqual(r.degraded, ['database']);
});

test('a lost race is a 503 to retry, and no dependency is reported down', async (t) => {
  const r = await answerTo(t, new StoreError('conflict', 'lost a race'));
  t.is(r.status, 503);
  t.is(r.body.error, 'temporarily_unavailable');
  t.deepEqual(r.degraded, []);
});

test('a raw driver error is not sniffed: it is a bare server_error', async (t) => {
  const r = await answerTo(
    t,
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
  );
  t.is(r.status, 500);
  t.deepEqual(r.body, { error: 'server_error', error_description: 'internal error' });
  t.deepEqual(r.degraded, []);
  t.is(r.serverErrors.length, 1);
});
