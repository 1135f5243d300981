import { randomUUID } from 'node:crypto';
import test from 'ava';
import { AuditTrail, auditEvent, CLI_STAMP } from '../../src/audit/trail.js';
import { createLogger } from '../../src/observability.js';
import { purgeSessions } from '../../src/sessions/purge.js';
import { PostgresAuditStore } from '../../src/stores/postgres/audit_events.js';
import { PostgresRevocationStore } from '../../src/stores/postgres/revocations.js';
import { createTestDatabase } from '../helpers/database.js';
import { refreshStoreOn } from '../helpers/facts.js';

const DAY = 86_400_000;

test('the audit store: username from the user id, filters, newest first, purge after the retention', async (t) => {
  const database = await createTestDatabase();
  t.teardown(() => database.drop());
  const { db } = database;
  const store = new PostgresAuditStore(db);
  const userId = randomUUID();
  await db('users').insert({ id: userId, username: 'lee', password_hash: 'x' });
  const t0 = Date.UTC(2031, 0, 1);
  await store.record([
    auditEvent(CLI_STAMP, 'user.created', new Date(t0), { userId }, { roles: ['a', 'b'] }),
    auditEvent(CLI_STAMP, 'client.created', new Date(t0 + DAY), { clientId: 'c_1' }),
    auditEvent(
      { actor: 'c_admin', ip: '10.0.0.1', requestId: 'r' },
      'key.rotated',
      new Date(t0 + 100 * DAY),
      {
        kid: 'k1',
      },
    ),
  ]);
  const all = await store.list({ limit: 10 });
  t.deepEqual(
    all.map((e) => e.type),
    ['key.rotated', 'client.created', 'user.created'],
  );
  t.like(all[2], { username: 'lee', userId, detail: { roles: ['a', 'b'] }, actor: 'cli' });
  t.like(all[0], { kid: 'k1', ip: '10.0.0.1', requestId: 'r' });
  t.is((await store.list({ limit: 10, username: 'lee' })).length, 1);
  t.is((await store.list({ limit: 10, clientId: 'c_1' })).length, 1);
  t.is((await store.list({ limit: 10, type: 'key.rotated' })).length, 1);
  t.is((await store.list({ limit: 10, since: new Date(t0 + DAY) })).length, 2);
  t.is((await store.list({ limit: 10, until: new Date(t0 + DAY) })).length, 1);
  t.is((await store.list({ limit: 10, beforeId: all[1]?.id })).length, 1);

  const trail = new AuditTrail({ store, now: () => t0 + 100 * DAY });
  const page = await trail.list({ limit: 2 });
  t.is(page.events.length, 2);
  t.truthy(page.nextCursor);

  // AUDIT_RETENTION of 90 days, run 100 days after the first event: the two old ones go.
  const purged = await purgeSessions({
    refreshTokens: refreshStoreOn(db),
    revocations: new PostgresRevocationStore(db),
    audit: store,
    auditRetention: 90 * 86_400,
    now: () => t0 + 100 * DAY,
    log: createLogger('silent'),
  });
  t.is(purged.auditEvents, 2);
  t.deepEqual(
    (await store.list({ limit: 10 })).map((e) => e.type),
    ['key.rotated'],
  );
});
