import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { Knex } from 'knex';
import { createLogger } from '../../src/observability.js';
import { purgeSessions, SESSION_RETENTION_S } from '../../src/sessions/purge.js';
import { guarded } from '../../src/stores/backend_errors.js';
import { PostgresAuditStore } from '../../src/stores/postgres/audit_events.js';
import { PostgresRevocationStore } from '../../src/stores/postgres/revocations.js';
import type { RefreshTokenStore } from '../../src/stores/types.js';
import { randomToken, sha256 } from '../../src/tokens/secrets.js';
import { fileDatabase, mode } from '../helpers/database.js';
import { refreshStoreOn } from '../helpers/facts.js';

/**
 * The refresh-family store contract. Every implementation runs it; today that is Postgres through
 * knex, on PGlite (embedded default) or real Postgres (DATABASE_URL), whichever this run uses.
 * Serial: the purge tests delete every dead family in the shared per-file database.
 */
const implementations: { name: string; make: (db: Knex) => RefreshTokenStore }[] = [
  // Behind the store boundary, as the server runs it: a lost race is a typed StoreError.
  {
    name: mode.postgres ? 'postgres' : 'pglite',
    make: (db) => guarded(refreshStoreOn(db), 'database'),
  },
];

const T0 = Date.UTC(2030, 0, 1);
const at = (s: number) => new Date(T0 + s * 1000);
const revocation = (s: number, reason = 'test') => ({ reason, at: at(s), accessTokenTtl: 900 });

async function fixtures(db: Knex, accessTokenTtl: number | null = null) {
  const userId = randomUUID();
  const clientId = `c_${randomUUID()}`;
  await db('users').insert({ id: userId, username: `u_${userId}`, password_hash: 'x' });
  await db('clients').insert({
    id: clientId,
    name: 'contract',
    grant_types: ['password', 'refresh_token'],
    scopes: ['read'],
    audiences: ['https://api.example.com'],
    access_token_ttl: accessTokenTtl,
  });
  return { userId, clientId };
}

const newToken = (idleExpiresAt: Date) => {
  const value = randomToken();
  return { value, record: { id: randomUUID(), hash: sha256(value), idleExpiresAt } };
};

async function family(store: RefreshTokenStore, userId: string, clientId: string, createdAt = 0, max = 100) {
  const id = randomUUID();
  const first = newToken(at(createdAt + 3600));
  const evicted = await store.createFamily(
    {
      id,
      userId,
      clientId,
      scope: 'read',
      audience: ['https://api.example.com'],
      createdAt: at(createdAt),
      expiresAt: at(createdAt + 7200),
    },
    first.record,
    { maxLiveFamilies: max, evict: revocation(createdAt, 'session_limit') },
  );
  return { id, first, evicted };
}

for (const impl of implementations) {
  const setup = async () => {
    const { db } = await fileDatabase();
    return { db, store: impl.make(db), ...(await fixtures(db)) };
  };
  const rotate = (
    store: RefreshTokenStore,
    hash: string,
    clientId: string,
    s: number,
    leeway = 0,
    idle = 3600,
  ) => {
    const child = newToken(at(s + idle));
    return store
      .rotate({ hash, clientId, child: child.record, leeway, now: at(s) })
      .then((outcome) => ({ outcome, child }));
  };

  test.serial(
    `${impl.name}: createFamily stores only the digest; findByHash finds token and family`,
    async (t) => {
      const { db, store, userId, clientId } = await setup();
      const f = await family(store, userId, clientId);
      const found = await store.findByHash(f.first.record.hash);
      t.is(found?.family.id, f.id);
      t.deepEqual(found?.family.audience, ['https://api.example.com']);
      t.is(found?.token.spentAt, null);
      t.is(await store.findByHash(f.first.value), undefined);
      t.is((await db('refresh_tokens').where({ token_hash: f.first.value })).length, 0);
    },
  );

  test.serial(
    `${impl.name}: rotate spends the token and inserts a child capped at the family expiry`,
    async (t) => {
      const { store, userId, clientId } = await setup();
      const f = await family(store, userId, clientId);
      const { outcome, child } = await rotate(store, f.first.record.hash, clientId, 3599, 0, 5000);
      t.is(outcome.kind, 'rotated');
      const c = await store.findByHash(child.record.hash);
      // Idle expiry would be 8599 s; the family ends at 7200 s.
      t.deepEqual(c?.token.expiresAt, at(7200));
      t.is((await store.findByHash(f.first.record.hash))?.token.spentAt?.getTime(), at(3599).getTime());
    },
  );

  test.serial(
    `${impl.name}: reuse revokes the family and records the sid for the longest access TTL`,
    async (t) => {
      const { db, store } = await setup();
      const { userId, clientId } = await fixtures(db, 3600);
      const f = await family(store, userId, clientId);
      await rotate(store, f.first.record.hash, clientId, 10);
      const { outcome } = await rotate(store, f.first.record.hash, clientId, 20);
      t.is(outcome.kind, 'reuse');
      if (outcome.kind !== 'reuse') return;
      t.deepEqual(outcome.revoked.familyIds, [f.id]);
      t.deepEqual(outcome.revoked.revocations[0]?.expiresAt, at(20 + 3600));
      const row = await db('revocations').where({ kind: 'sid', value: f.id }).first();
      t.is(new Date(row.expires_at).getTime(), at(3620).getTime());
      t.is((await store.findFamily(f.id))?.revokedReason, 'refresh_reuse');
    },
  );

  test.serial(
    `${impl.name}: wrong client, expired, revoked and unknown outcomes change nothing`,
    async (t) => {
      const { db, store, userId, clientId } = await setup();
      const other = await fixtures(db);
      const f = await family(store, userId, clientId);
      t.is((await rotate(store, f.first.record.hash, other.clientId, 10)).outcome.kind, 'wrong_client');
      t.is((await rotate(store, sha256('nope'), clientId, 10)).outcome.kind, 'not_found');
      t.is((await rotate(store, f.first.record.hash, clientId, 3601)).outcome.kind, 'expired');
      t.is((await store.findByHash(f.first.record.hash))?.token.spentAt, null);
      await store.revokeFamily(f.id, revocation(10));
      t.is((await rotate(store, f.first.record.hash, clientId, 20)).outcome.kind, 'revoked');
    },
  );

  test.serial(`${impl.name}: leeway accepts only the immediately previous token by its client`, async (t) => {
    const { store, userId, clientId } = await setup();
    const f = await family(store, userId, clientId);
    const r1 = await rotate(store, f.first.record.hash, clientId, 10, 30);
    const again = await rotate(store, f.first.record.hash, clientId, 20, 30);
    t.is(again.outcome.kind, 'leeway');
    // The replaced child is spent; the family still has exactly one live token.
    t.not((await store.findByHash(r1.child.record.hash))?.token.spentAt, null);
    const r3 = await rotate(store, again.child.record.hash, clientId, 25, 30);
    t.is(r3.outcome.kind, 'rotated');
    t.is((await rotate(store, f.first.record.hash, clientId, 30, 30)).outcome.kind, 'reuse');
  });

  test.serial(`${impl.name}: a clean rotation is one statement and returns the owner`, async (t) => {
    const { db, store, userId, clientId } = await setup();
    const f = await family(store, userId, clientId);
    const statements: string[] = [];
    const count = (q: { sql: string }) => statements.push(q.sql);
    db.on('query', count);
    try {
      const r = await rotate(store, f.first.record.hash, clientId, 10);
      t.is(r.outcome.kind, 'rotated');
      t.is(r.outcome.kind === 'rotated' ? r.outcome.user?.id : undefined, userId);
    } finally {
      db.off('query', count);
    }
    // One round trip: no BEGIN/COMMIT, no separate reads before the write.
    t.is(statements.length, 1, statements.join('\n'));
    // Reuse is still detected by the outcome: the spent token takes the transactional path.
    t.is((await rotate(store, f.first.record.hash, clientId, 20)).outcome.kind, 'reuse');
  });

  // Real Postgres only: PGlite has one connection, so nothing there can wait on a row lock.
  (mode.postgres ? test.serial : test.skip)(
    `${impl.name}: rotations queued on the family lock with one snapshot: exactly one spends the token`,
    async (t) => {
      const { db, store, userId, clientId } = await setup();
      const f = await family(store, userId, clientId);
      // Hold the family lock so both rotations start (and take their snapshots) before either runs.
      const holder = await db.transaction();
      await holder('refresh_families').where({ id: f.id }).forUpdate().first('id');
      const racing = [1, 2].map((i) =>
        rotate(store, f.first.record.hash, clientId, 10 + i).then((r) => r.outcome.kind),
      );
      for (let waiting = 0; waiting < 2; ) {
        await new Promise((r) => setTimeout(r, 20));
        const row = await db.raw(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        waiting = (row.rows[0] as { n: number }).n;
      }
      await holder.commit();
      const kinds = await Promise.all(racing);
      t.is(kinds.filter((k) => k === 'rotated').length, 1, kinds.join(','));
      t.is((await db('refresh_tokens').where({ family_id: f.id })).length, 2, 'one child, not two');
    },
  );

  test.serial(`${impl.name}: concurrent rotations of one token: exactly one wins`, async (t) => {
    const { store, userId, clientId } = await setup();
    const f = await family(store, userId, clientId);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () =>
        rotate(store, f.first.record.hash, clientId, 10).then(
          (r) => r.outcome.kind,
          (err: Error) => `error:${err.name}`,
        ),
      ),
    );
    t.is(outcomes.filter((k) => k === 'rotated').length, 1);
    t.true(
      outcomes.every((k) => k === 'rotated' || k === 'reuse' || k === 'revoked' || k === 'error:StoreError'),
    );
  });

  test.serial(`${impl.name}: createFamily evicts the oldest live families beyond the cap`, async (t) => {
    const { store, userId, clientId } = await setup();
    const a = await family(store, userId, clientId, 0, 2);
    const b = await family(store, userId, clientId, 10, 2);
    const c = await family(store, userId, clientId, 20, 2);
    t.deepEqual(c.evicted.familyIds, [a.id]);
    t.is((await store.findFamily(a.id))?.revokedReason, 'session_limit');
    t.is((await store.findFamily(b.id))?.revokedAt, null);
  });

  test.serial(`${impl.name}: revokeByHash checks ownership; bulk revocations are idempotent`, async (t) => {
    const { db, store, userId, clientId } = await setup();
    const other = await fixtures(db);
    const f = await family(store, userId, clientId);
    const g = await family(store, userId, clientId);
    t.is((await store.revokeByHash(f.first.record.hash, other.clientId, revocation(1))).kind, 'wrong_client');
    t.is((await store.findFamily(f.id))?.revokedAt, null);
    t.is((await store.revokeByHash(f.first.record.hash, clientId, revocation(1))).kind, 'revoked');
    const bulk = await store.revokeUserSessions(userId, revocation(2));
    t.deepEqual(bulk.familyIds, [g.id]);
    t.deepEqual((await store.revokeUserSessions(userId, revocation(3))).familyIds, []);
    const h = await family(store, userId, clientId);
    t.deepEqual((await store.revokeClientFamilies(clientId, revocation(4))).familyIds, [h.id]);
  });

  test.serial(
    `${impl.name}: purge deletes dead families and their tokens in batches, keeps live ones`,
    async (t) => {
      const { db, store, userId, clientId } = await setup();
      const dead = await family(store, userId, clientId, 0);
      const revoked = await family(store, userId, clientId, 0);
      await store.revokeFamily(revoked.id, revocation(100));
      const live = await family(store, userId, clientId, 5000);
      // Cutoff after dead's expiry (7200) and revoked's revocation (100), before live's expiry.
      const cutoff = at(8000);
      let total = 0;
      for (let n = -1; n !== 0; ) {
        n = await store.purge(cutoff, 1);
        total += n;
      }
      t.true(total >= 2);
      t.is(await store.findFamily(dead.id), undefined);
      t.is(await store.findFamily(revoked.id), undefined);
      t.is((await db('refresh_tokens').where({ family_id: dead.id })).length, 0);
      t.truthy(await store.findFamily(live.id));
    },
  );
}

test.serial(
  'purgeSessions keeps dead families for the retention, then deletes them and expired revocations',
  async (t) => {
    const { db } = await fileDatabase();
    const store = refreshStoreOn(db);
    const revocations = new PostgresRevocationStore(db);
    const { userId, clientId } = await fixtures(db);
    const FAR = 10 * 365 * 86400; // after every other test's rows, so counts are this test's own
    const f = await family(store, userId, clientId, FAR);
    await store.revokeFamily(f.id, revocation(FAR + 10));
    const audit = new PostgresAuditStore(db);
    const deps = {
      refreshTokens: store,
      revocations,
      audit,
      auditRetention: 90 * 86400,
      log: createLogger('silent'),
    };
    // Within the retention: kept (the revocation record blocks access tokens for 900 s).
    const early = await purgeSessions({
      ...deps,
      now: () => at(FAR + 10 + SESSION_RETENTION_S - 1).getTime(),
    });
    t.is(typeof early.families, 'number');
    t.truthy(await store.findFamily(f.id));
    const late = await purgeSessions({
      ...deps,
      now: () => at(FAR + 10 + SESSION_RETENTION_S + 1).getTime(),
    });
    t.true(late.families >= 1);
    t.true(late.revocations + early.revocations >= 1);
    t.is(await store.findFamily(f.id), undefined);
    t.is((await db('revocations').where({ kind: 'sid', value: f.id })).length, 0);
  },
);
