import { Writable } from 'node:stream';
import test from 'ava';
import { EventBus } from '../src/events.js';
import { createLogger, createMetrics, observeEvents } from '../src/observability.js';
import { fileDatabase } from './helpers/database.js';

test('an unexpected database error is logged with its code and routine, never its SQL or bound values', async (t) => {
  const { db } = await fileDatabase();
  // A real driver error (SQLSTATE 22021 on Postgres): NUL in a bound value.
  const err = await db('users')
    .where({ username: 'secret-user\u0000name' })
    .first()
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.truthy(err, 'the database refused the value');
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const events = new EventBus();
  observeEvents(events, createLogger('trace', sink), createMetrics());
  events.emit('server.error', { err, route: '/token' });
  t.is(lines.length, 1);
  const line = lines[0] as string;
  t.notRegex(line, /select|from "users"|secret-user|"stack"|at \w/i);
  const entry = JSON.parse(line) as { err: Record<string, string> };
  t.is(entry.err.type, 'database');
  if (process.env.DATABASE_URL) t.is(entry.err.code, '22021');
  t.truthy(entry.err.code ?? entry.err.routine);
});
