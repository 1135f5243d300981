import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { Knex } from 'knex';
import { PostgresListener } from '../../src/db/notifications.js';
import { EventBus } from '../../src/events.js';
import { FactPublisher } from '../../src/facts/publisher.js';
import { startSession } from '../../src/sessions/start.js';
import { MemoryDenylist } from '../../src/stores/memory/denylist.js';
import { NotifiedDenylist, REVOCATIONS_CHANNEL } from '../../src/stores/postgres/notified_denylist.js';
import { PostgresRevocationStore } from '../../src/stores/postgres/revocations.js';
import type { ClientRecord, Denylist, Revocation } from '../../src/stores/types.js';
import { fileDatabase } from '../helpers/database.js';
import { factsOn, refreshStoreOn } from '../helpers/facts.js';

/**
 * A session's revocation is written durably once, inside the family's own transaction; the
 * denylist afterwards only caches it (docs/sessions.md). Before, every denylist's `add` wrote the
 * row a second time, and in the Postgres-only mode its trigger notified every instance twice.
 */

/** The real durable store, counting how often something other than the family transaction writes it. */
class CountedRevocations extends PostgresRevocationStore {
  writes = 0;
  override async record(entries: Revocation[], at: Date): Promise<void> {
    this.writes++;
    return super.record(entries, at);
  }
}

const STAMP = { actor: 'test', ip: null, requestId: null };

const SETTINGS = {
  refreshTokenIdleTtl: 3600,
  refreshTokenMaxAge: 86400,
  refreshReuseLeeway: 0,
  maxSessionsPerUser: 10,
};

async function fixtures(db: Knex) {
  const userId = randomUUID();
  const clientId = `c_${randomUUID()}`;
  await db('users').insert({ id: userId, username: `u_${userId}`, password_hash: 'x' });
  await db('clients').insert({
    id: clientId,
    name: 'once',
    grant_types: ['password', 'refresh_token'],
    scopes: ['read'],
    audiences: ['https://api.example.com'],
  });
  const client = { id: clientId } as ClientRecord;
  return { userId, client };
}

/** Sessions start and end on the refresh store, which publishes what it ended (compose.ts). */
function sessionsOn(db: Knex, denylist: Denylist) {
  const refreshTokens = refreshStoreOn(db, new FactPublisher({ events: new EventBus(), denylist }));
  const deps = { refreshTokens, settings: SETTINGS, now: Date.now };
  return {
    start: (input: Omit<Parameters<typeof startSession>[1], 'audience'> & { audience: string[] }) =>
      startSession(deps, input),
    end: async (sid: string, reason: string, audit?: typeof STAMP) =>
      (await refreshTokens.revokeFamily(sid, { reason, audit })).familyIds.length > 0,
    endUserSessions: (userId: string, reason: string, audit: typeof STAMP) =>
      refreshTokens.revokeUserSessions(userId, { reason, audit }),
  };
}

test('ending sessions writes the durable revocation once: the denylist only caches it', async (t) => {
  const { db } = await fileDatabase();
  const durable = new CountedRevocations(db);
  const denylist = new MemoryDenylist(durable, Date.now);
  const sessions = sessionsOn(db, denylist);
  const { userId, client } = await fixtures(db);
  const one = await sessions.start({ userId, client, scope: 'read', audience: ['https://api.example.com'] });
  const two = await sessions.start({ userId, client, scope: 'read', audience: ['https://api.example.com'] });
  t.true(await sessions.end(one.sid, 'logout', STAMP));
  t.is((await sessions.endUserSessions(userId, 'admin_revoked', STAMP)).familyIds.length, 1);
  t.is(durable.writes, 0, 'no second durable write');
  // Each family's end is audited once, in its own transaction.
  const ended = await db('audit_events').where({ type: 'session.ended' }).select('session_id');
  t.deepEqual(ended.map((r: { session_id: string }) => r.session_id).sort(), [one.sid, two.sid].sort());
  for (const sid of [one.sid, two.sid]) {
    t.true(await denylist.isRevoked(randomUUID(), sid), 'cached at once');
    t.true(await durable.anyRevoked([{ kind: 'sid', value: sid }], new Date()), 'recorded durably');
  }
  // A new revocation (an access token's jti) is still recorded durably by `add`.
  await denylist.add([{ kind: 'jti', value: randomUUID(), expiresAt: new Date(Date.now() + 60_000) }]);
  t.is(durable.writes, 1);
});

const run = process.env.DATABASE_URL ? test.serial : test.skip;
const tag = process.env.DATABASE_URL ? '' : ' [needs DATABASE_URL]';

run(`Postgres-only mode: ending a session notifies the other instances once${tag}`, async (t) => {
  const database = await fileDatabase();
  const notifications = new PostgresListener(database.url as string);
  const denylist = new NotifiedDenylist({
    durable: new PostgresRevocationStore(database.db),
    notifications,
    events: new EventBus(),
    now: Date.now,
  });
  await denylist.load();
  const heard: string[] = [];
  const stop = notifications.on(REVOCATIONS_CHANNEL, (payload) => heard.push(payload));
  t.teardown(async () => {
    stop();
    await denylist.close();
    await notifications.close();
  });
  const sessions = sessionsOn(database.db, denylist);
  const { userId, client } = await fixtures(database.db);
  const { sid } = await sessions.start({
    userId,
    client,
    scope: 'read',
    audience: ['https://api.example.com'],
  });
  await sessions.end(sid, 'logout');
  // An access token's revocation has no transaction: the facts writer records it durably once.
  const { facts } = factsOn(database.db, new EventBus(), Date.now, denylist);
  const jti = randomUUID();
  await facts.record(STAMP, [
    {
      type: 'token.revoked',
      token: 'access',
      clientId: client.id,
      jti,
      expiresAt: new Date(Date.now() + 60_000),
    },
  ]);
  const heardOf = (value: string) => heard.filter((p) => p.endsWith(` ${value}`)).length;
  for (let waited = 0; (heardOf(sid) === 0 || heardOf(jti) === 0) && waited < 2000; waited += 10)
    await sleep(10);
  // Give a second notification the time the first one took, and then some.
  await sleep(200);
  t.is(heardOf(sid), 1);
  t.is(heardOf(jti), 1);
});
