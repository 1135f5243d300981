import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { Knex } from 'knex';
import { familyIsLive, liveRefreshTokenSql, tokenRowIsLive } from '../../src/stores/postgres/live.js';
import { PostgresRefreshTokenInspector } from '../../src/stores/postgres/refresh_token_inspector.js';
import { randomToken, sha256 } from '../../src/tokens/secrets.js';
import { fileDatabase } from '../helpers/database.js';
import { refreshStoreOn } from '../helpers/facts.js';

/**
 * "A live refresh token" has one definition (src/stores/postgres/live.ts). This pins it: for each
 * state at the boundaries, the SQL fragment, its JS twin, introspection, the session list and a
 * rotation all give the same answer.
 */

const T0 = Date.UTC(2031, 0, 1);
const at = (s: number) => new Date(T0 + s * 1000);
const NOW = at(1000);

interface State {
  name: string;
  live: boolean;
  spentAt: Date | null;
  tokenExpiresAt: Date;
  familyExpiresAt: Date;
  revokedAt: Date | null;
}

const STATES: State[] = [
  {
    name: 'fresh',
    live: true,
    spentAt: null,
    tokenExpiresAt: at(2000),
    familyExpiresAt: at(3000),
    revokedAt: null,
  },
  {
    name: 'spent',
    live: false,
    spentAt: at(900),
    tokenExpiresAt: at(2000),
    familyExpiresAt: at(3000),
    revokedAt: null,
  },
  {
    name: 'idle-expired exactly now',
    live: false,
    spentAt: null,
    tokenExpiresAt: NOW,
    familyExpiresAt: at(3000),
    revokedAt: null,
  },
  {
    name: 'family expired exactly now',
    live: false,
    spentAt: null,
    tokenExpiresAt: NOW,
    familyExpiresAt: NOW,
    revokedAt: null,
  },
  {
    name: 'family revoked',
    live: false,
    spentAt: null,
    tokenExpiresAt: at(2000),
    familyExpiresAt: at(3000),
    revokedAt: at(500),
  },
  {
    name: 'a millisecond left',
    live: true,
    spentAt: null,
    tokenExpiresAt: new Date(NOW.getTime() + 1),
    familyExpiresAt: new Date(NOW.getTime() + 1),
    revokedAt: null,
  },
];

async function insert(db: Knex, state: State) {
  const userId = randomUUID();
  const clientId = `c_${randomUUID()}`;
  await db('users').insert({ id: userId, username: `u_${userId}`, password_hash: 'x' });
  await db('clients').insert({
    id: clientId,
    name: 'live',
    grant_types: ['password', 'refresh_token'],
    scopes: ['read'],
    audiences: ['https://api.example.com'],
  });
  const familyId = randomUUID();
  await db('refresh_families').insert({
    id: familyId,
    user_id: userId,
    client_id: clientId,
    scope: 'read',
    audience: JSON.stringify(['https://api.example.com']),
    created_at: at(0),
    expires_at: state.familyExpiresAt,
    revoked_at: state.revokedAt,
    revoked_reason: state.revokedAt ? 'test' : null,
  });
  const hash = sha256(randomToken());
  await db('refresh_tokens').insert({
    id: randomUUID(),
    family_id: familyId,
    token_hash: hash,
    client_id: clientId,
    created_at: at(0),
    expires_at: state.tokenExpiresAt,
    spent_at: state.spentAt,
  });
  return { userId, clientId, familyId, hash };
}

for (const state of STATES) {
  test.serial(`${state.name}: every definition of "live" agrees (${state.live})`, async (t) => {
    const { db } = await fileDatabase();
    const row = await insert(db, state);
    const sql = await db('refresh_tokens as t')
      .join('refresh_families as f', 'f.id', 't.family_id')
      .where('t.token_hash', row.hash)
      .whereRaw(liveRefreshTokenSql('t', 'f'), [NOW, NOW])
      .first('t.id');
    t.is(sql !== undefined, state.live, 'SQL');
    const js =
      tokenRowIsLive({ spentAt: state.spentAt, expiresAt: state.tokenExpiresAt }, NOW) &&
      familyIsLive({ revokedAt: state.revokedAt, expiresAt: state.familyExpiresAt }, NOW);
    t.is(js, state.live, 'JS');
    const inspected = await new PostgresRefreshTokenInspector(db).inspect(row.hash, NOW);
    t.is(inspected !== undefined, state.live, 'introspection');
    const store = refreshStoreOn(db);
    const listed = await store.listLiveFamilies(row.userId, NOW);
    t.is(
      listed.length === 1,
      familyIsLive({ revokedAt: state.revokedAt, expiresAt: state.familyExpiresAt }, NOW),
      'session list',
    );
    const outcome = await store.rotate({
      hash: row.hash,
      clientId: row.clientId,
      child: { id: randomUUID(), hash: sha256(randomToken()), idleExpiresAt: at(2500) },
      leeway: 0,
      now: NOW,
    });
    t.is(outcome.kind === 'rotated', state.live, `rotation (${outcome.kind})`);
  });
}
