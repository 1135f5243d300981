import type { Knex } from 'knex';
import { StoreError } from '../../errors.js';
import { auditRows } from '../../facts/audit_rows.js';
import type { SecurityFact, SessionFact } from '../../facts/facts.js';
import type { FactPublisher } from '../../facts/publisher.js';
import { toStoreError } from '../backend_errors.js';
import type {
  AuditStamp,
  EndedSessions,
  NewRefreshToken,
  RefreshFamily,
  RefreshTokenRecord,
  RefreshTokenStore,
  Revocation,
  RevokeByTokenOutcome,
  RevokedFamilies,
  RotateInput,
  RotateOutcome,
  SessionEnding,
  UserRecord,
} from '../types.js';
import { auditEventsInsert } from './audit_events.js';
import { deletePendingCodesTx } from './authorization_codes.js';
import { familyIsLive, liveFamilySql, liveTokenRowSql, tokenRowIsLive } from './live.js';
import { endLoginSessionsTx } from './login_sessions.js';
import { upsertRevocations } from './revocations.js';
import { affectedRows, toDate, toDateOrNull } from './rows.js';
import { type UserRow, userFromRow } from './users.js';

interface FamilyRow {
  id: string;
  user_id: string;
  client_id: string;
  scope: string;
  audience: string[] | string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_reason: string | null;
  login_session_id?: string | null;
  dpop_jkt: string | null;
}

interface TokenRow {
  id: string;
  family_id: string;
  parent_id: string | null;
  token_hash: string;
  client_id: string;
  created_at: Date;
  expires_at: Date;
  spent_at: Date | null;
}

const familyFromRow = (r: FamilyRow): RefreshFamily => ({
  id: r.id,
  userId: r.user_id,
  clientId: r.client_id,
  scope: r.scope,
  audience: typeof r.audience === 'string' ? (JSON.parse(r.audience) as string[]) : r.audience,
  createdAt: toDate(r.created_at),
  expiresAt: toDate(r.expires_at),
  revokedAt: toDateOrNull(r.revoked_at),
  revokedReason: r.revoked_reason,
  loginSessionId: r.login_session_id ?? null,
  dpopJkt: r.dpop_jkt ?? null,
});

const tokenFromRow = (r: TokenRow): RefreshTokenRecord => ({
  id: r.id,
  familyId: r.family_id,
  parentId: r.parent_id,
  clientId: r.client_id,
  createdAt: toDate(r.created_at),
  expiresAt: toDate(r.expires_at),
  spentAt: toDateOrNull(r.spent_at),
});

/** What ending a family needs beyond its id: why, when, who, and how long its access tokens may live. */
interface FamilyRevocation {
  reason: string;
  at: Date;
  /** ACCESS_TOKEN_TTL (s); a client's own override is read from its row. */
  accessTokenTtl: number;
  audit?: AuditStamp;
}

export interface RefreshStoreSettings {
  /** ACCESS_TOKEN_TTL (s): an ended session's `sid` stays denylisted at least this long. */
  accessTokenTtl: number;
  now: () => number;
  /** After commit: the facts a transaction wrote, and the `sid`s it revoked for the denylist cache. */
  publisher: Pick<FactPublisher, 'published'>;
}

/**
 * Refresh families on Postgres (real or PGlite). Inside a transaction only `trx` is used: PGlite
 * has a single connection, so a query on `db` there would wait for the transaction forever.
 * A lost race of rotate() surfaces as the driver's error; the store boundary
 * (src/stores/backend_errors.ts) turns it into StoreError `conflict` or `exists`, and the refresh
 * grant maps those. Every verb that ends sessions retries a lost race once itself.
 */
export class PostgresRefreshTokenStore implements RefreshTokenStore {
  constructor(
    private readonly db: Knex,
    private readonly settings: RefreshStoreSettings,
  ) {}

  private inTransaction<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  private revocation(ending: SessionEnding): FamilyRevocation {
    return {
      reason: ending.reason,
      at: ending.at ?? new Date(this.settings.now()),
      accessTokenTtl: this.settings.accessTokenTtl,
      audit: ending.audit,
    };
  }

  /**
   * A transaction that ends sessions. A lost lock race (a login's eviction deadlocking with a bulk
   * revocation of the same user, say) is retried once: the second attempt runs after the winner
   * committed and sees its result. After commit, what it ended goes to the publisher.
   */
  private async ending<T>(
    work: (trx: Knex.Transaction) => Promise<T>,
    revoked: (result: T) => RevokedFamilies | undefined,
  ): Promise<T> {
    let result: T;
    try {
      result = await this.inTransaction(work);
    } catch (err) {
      const typed = toStoreError(err, 'database');
      if (!(typed instanceof StoreError && typed.code === 'conflict')) throw err;
      result = await this.inTransaction(work);
    }
    const ended = revoked(result);
    if (ended) await this.settings.publisher.published(ended.facts, ended.revocations);
    return result;
  }

  async createFamily(
    family: Omit<RefreshFamily, 'revokedAt' | 'revokedReason' | 'loginSessionId' | 'dpopJkt'> & {
      loginSessionId?: string | null;
      dpopJkt?: string | null;
    },
    token: NewRefreshToken,
    limits: { maxLiveFamilies: number; evict: SessionEnding; facts?: SecurityFact[] },
  ): Promise<RevokedFamilies> {
    const evict = this.revocation(limits.evict);
    return this.ending(
      async (trx) => {
        // The user's row lock serialises this user's logins, so two at once cannot both see room.
        await trx('users').where({ id: family.userId }).forUpdate().first('id');
        const live: { id: string }[] = await trx('refresh_families')
          .where({ user_id: family.userId })
          .whereRaw(liveFamilySql('refresh_families'), [evict.at])
          .orderBy('created_at', 'asc')
          .orderBy('id', 'asc')
          .select('id');
        const excess = live.length - (limits.maxLiveFamilies - 1);
        const evicted =
          excess > 0
            ? await revokeFamiliesTx(
                trx,
                live.slice(0, excess).map((r) => r.id),
                evict,
              )
            : NOTHING_REVOKED;
        // The family, its first token and what started it (a login, audited after what it
        // evicted) in one statement: three inserts, one round trip (the CTEs all run, and the
        // token's foreign key is checked at the statement's end, when the family exists).
        const started = limits.facts ?? [];
        await inOneStatement(trx, [
          trx('refresh_families').insert({
            id: family.id,
            user_id: family.userId,
            client_id: family.clientId,
            scope: family.scope,
            audience: JSON.stringify(family.audience),
            created_at: family.createdAt,
            expires_at: family.expiresAt,
            login_session_id: family.loginSessionId ?? null,
            dpop_jkt: family.dpopJkt ?? null,
          }),
          tokenInsert(trx, family.id, family.clientId, null, token, family.createdAt, family.expiresAt),
          factsInsert(trx, evict, started),
        ]);
        return { ...evicted, facts: [...evicted.facts, ...started] };
      },
      (created) => created,
    );
  }

  async rotate(input: RotateInput): Promise<RotateOutcome> {
    // The common case in one round trip; every other outcome (unknown, other client, expired,
    // revoked, spent: leeway or reuse, a lost race) is decided by the transaction below, and so is
    // every rotation with a `check`, which must see the family before anything is spent.
    if (!input.check) {
      const rotated = await this.rotateInOneStatement(input);
      if (rotated) return rotated;
    }
    const outcome = await this.inTransaction(async (trx): Promise<RotateOutcome> => {
      const locked = await lockForRotation(trx, input.hash);
      if (!locked) return { kind: 'not_found' };
      const { family, token, user } = locked;
      // RFC 6749 §6: the refresh token must have been issued to the authenticated client.
      if (token.client_id !== input.clientId) return { kind: 'wrong_client' };
      const now = input.now;
      if (!familyIsLive(family, now)) return { kind: family.revokedAt ? 'revoked' : 'expired', family };

      // The caller's check (scope, resource) runs only once the token is known to be acceptable, so
      // a refused token answers invalid_grant whatever else was asked (RFC 6749 §5.2), and a spent one
      // is still treated as reuse below.
      if (token.spent_at === null) {
        if (!tokenRowIsLive({ spentAt: null, expiresAt: toDate(token.expires_at) }, now))
          return { kind: 'expired', family };
        if (!keyMatches(family, input)) return { kind: 'wrong_key', family };
        input.check?.(family);
        await spendAndInsert(trx, token.id, family, token.client_id, token.id, input.child, now);
        return { kind: 'rotated', family, ...(user ? { user } : {}) };
      }

      // A spent token. Within the leeway, only the immediately previous token (the parent of the
      // family's one live token) is accepted again: it replaces that live token with a new child.
      const spentAgo = now.getTime() - toDate(token.spent_at).getTime();
      if (input.leeway > 0 && spentAgo <= input.leeway * 1000) {
        const live: TokenRow | undefined = await trx('refresh_tokens')
          .where({ family_id: family.id })
          .whereNull('spent_at')
          .first();
        if (live && live.parent_id === token.id) {
          if (!keyMatches(family, input)) return { kind: 'wrong_key', family };
          input.check?.(family);
          await spendAndInsert(trx, live.id, family, token.client_id, token.id, input.child, now);
          return { kind: 'leeway', family, ...(user ? { user } : {}) };
        }
      }
      // Reuse (RFC 9700 §4.14.2): revoke the whole family in this same transaction.
      const revocation = this.revocation({ reason: 'refresh_reuse', at: now, audit: input.audit });
      const reuse = await writeFacts(trx, revocation, [
        { type: 'refresh.reuse_detected', sid: family.id, userId: family.userId, clientId: family.clientId },
      ]);
      const revoked = await revokeFamiliesTx(trx, [family.id], revocation);
      return {
        kind: 'reuse',
        family: { ...family, revokedAt: now, revokedReason: 'refresh_reuse' },
        revoked: { ...revoked, facts: [...reuse, ...revoked.facts] },
      };
    });
    if (outcome.kind === 'reuse')
      await this.settings.publisher.published(outcome.revoked.facts, outcome.revoked.revocations);
    return outcome;
  }

  /**
   * Spends a live token and inserts its child under the family's row lock, as one statement
   * (one round trip): the family row is locked FOR UPDATE first, so rotation still serialises with
   * reuse revocation and /revoke. Single use is the UPDATE's own `spent_at IS NULL`: under READ
   * COMMITTED a concurrent winner's commit is re-checked on the row, so a loser spends nothing and
   * gets no row here. The owner's user row comes back in the same statement.
   */
  private async rotateInOneStatement(input: RotateInput): Promise<RotateOutcome | undefined> {
    const { now, child } = input;
    const result = (await this.db.raw(
      `WITH presented AS (
         SELECT t.id, t.family_id FROM refresh_tokens t
          WHERE t.token_hash = ? AND t.client_id = ? AND ${liveTokenRowSql('t')}
       ), family AS (
         SELECT f.* FROM refresh_families f JOIN presented p ON f.id = p.family_id
          WHERE ${liveFamilySql('f')}
            AND (f.dpop_jkt IS NULL OR f.dpop_jkt = ?)
            FOR UPDATE OF f
       ), spent AS (
         UPDATE refresh_tokens t SET spent_at = ?
           FROM presented p, family f
          WHERE t.id = p.id AND t.spent_at IS NULL
         RETURNING t.id, t.family_id, t.client_id
       ), child AS (
         INSERT INTO refresh_tokens (id, family_id, parent_id, token_hash, client_id, created_at, expires_at)
         SELECT CAST(? AS uuid), s.family_id, s.id, ?, s.client_id, CAST(? AS timestamptz),
                -- Rotation never extends the family: the idle expiry is capped at the family's.
                LEAST(CAST(? AS timestamptz), f.expires_at)
           FROM spent s JOIN family f ON f.id = s.family_id
         RETURNING family_id
       )
       SELECT f.*, u.id AS u_id, u.username AS u_username, u.password_hash AS u_password_hash,
              u.roles AS u_roles, u.password_changed_at AS u_password_changed_at,
              u.disabled_at AS u_disabled_at, u.created_at AS u_created_at
         FROM child c JOIN family f ON f.id = c.family_id JOIN users u ON u.id = f.user_id`,
      [
        input.hash,
        input.clientId,
        now,
        now,
        input.dpopJkt ?? null,
        now,
        child.id,
        child.hash,
        now,
        child.idleExpiresAt,
      ],
    )) as { rows: (FamilyRow & Record<`u_${string}`, unknown>)[] };
    const row = result.rows[0];
    if (!row) return undefined;
    const user = userOfRow(row);
    return { kind: 'rotated', family: familyFromRow(row), ...(user ? { user } : {}) };
  }

  async findByHash(hash: string) {
    const row: TokenRow | undefined = await this.db('refresh_tokens').where({ token_hash: hash }).first();
    if (!row) return undefined;
    const family = await this.findFamily(row.family_id);
    return family ? { token: tokenFromRow(row), family } : undefined;
  }

  async findFamily(id: string): Promise<RefreshFamily | undefined> {
    const row: FamilyRow | undefined = await this.db('refresh_families').where({ id }).first();
    return row ? familyFromRow(row) : undefined;
  }

  async listLiveFamilies(userId: string, now: Date): Promise<(RefreshFamily & { lastUsedAt: Date })[]> {
    // A family is last used when its newest token was issued (every refresh issues one).
    const rows: (FamilyRow & { last_used_at: Date })[] = await this.db('refresh_families as f')
      .where('f.user_id', userId)
      .whereRaw(liveFamilySql('f'), [now])
      .select(
        'f.*',
        this.db.raw(
          '(select max(t.created_at) from refresh_tokens t where t.family_id = f.id) as last_used_at',
        ),
      )
      .orderBy('f.created_at', 'desc')
      .orderBy('f.id', 'desc');
    return rows.map((r) => ({ ...familyFromRow(r), lastUsedAt: toDate(r.last_used_at ?? r.created_at) }));
  }

  async revokeByHash(hash: string, clientId: string, ending: SessionEnding): Promise<RevokeByTokenOutcome> {
    const revocation = this.revocation(ending);
    return this.ending(
      async (trx): Promise<RevokeByTokenOutcome> => {
        const locked = await lockByHash(trx, hash);
        if (!locked) return { kind: 'not_found' };
        if (locked.token.client_id !== clientId) return { kind: 'wrong_client' };
        const { family } = locked;
        const token = await writeFacts(trx, revocation, [
          {
            type: 'token.revoked',
            token: 'refresh',
            sid: family.id,
            userId: family.userId,
            clientId: family.clientId,
          },
        ]);
        const revoked = await revokeFamiliesTx(trx, [family.id], revocation);
        return {
          kind: 'revoked',
          family: locked.family,
          revoked: { ...revoked, facts: [...token, ...revoked.facts] },
        };
      },
      (outcome) => (outcome.kind === 'revoked' ? outcome.revoked : undefined),
    );
  }

  async revokeFamily(id: string, ending: SessionEnding): Promise<RevokedFamilies> {
    const revocation = this.revocation(ending);
    return this.ending(
      async (trx) => {
        await trx('refresh_families').where({ id }).forUpdate().first('id');
        return revokeFamiliesTx(trx, [id], revocation);
      },
      (revoked) => revoked,
    );
  }

  async endSession(id: string, ending: SessionEnding): Promise<EndedSessions | undefined> {
    const revocation = this.revocation(ending);
    return this.ending(
      async (trx) => {
        const family: FamilyRow | undefined = await trx('refresh_families').where({ id }).forUpdate().first();
        if (!family) {
          const logins = await endLoginSessionsTx(trx, { id }, revocation);
          if (logins.deleted === 0) return undefined;
          return { ...NOTHING_REVOKED, facts: logins.facts, loginSessionIds: logins.ended, pendingCodes: 0 };
        }
        const revoked = await revokeFamiliesTx(trx, [id], revocation);
        // The browser sign-in that started this family ends with it: no fresh code without a password.
        const logins = family.login_session_id
          ? await endLoginSessionsTx(trx, { id: family.login_session_id }, revocation)
          : { ended: [], facts: [] };
        return {
          ...revoked,
          facts: [...revoked.facts, ...logins.facts],
          loginSessionIds: logins.ended,
          pendingCodes: 0,
        };
      },
      (ended) => ended,
    );
  }

  async revokeUserSessions(userId: string, ending: SessionEnding): Promise<EndedSessions> {
    const revocation = this.revocation(ending);
    return this.ending(
      async (trx) => {
        const revoked = await revokeFamiliesTx(
          trx,
          await lockLiveFamilies(trx, { user_id: userId }),
          revocation,
        );
        const logins = await endLoginSessionsTx(trx, { user_id: userId }, revocation);
        const pendingCodes = await deletePendingCodesTx(trx, userId);
        return {
          ...revoked,
          facts: [...revoked.facts, ...logins.facts],
          loginSessionIds: logins.ended,
          pendingCodes,
        };
      },
      (ended) => ended,
    );
  }

  async revokeClientFamilies(clientId: string, ending: SessionEnding): Promise<RevokedFamilies> {
    const revocation = this.revocation(ending);
    return this.ending(
      async (trx) => revokeFamiliesTx(trx, await lockLiveFamilies(trx, { client_id: clientId }), revocation),
      (revoked) => revoked,
    );
  }

  async narrowFamily(id: string, scope: string, audience: string[]): Promise<void> {
    await this.db('refresh_families')
      .where({ id })
      .update({ scope, audience: JSON.stringify(audience) });
  }

  async purge(cutoff: Date, batch: number): Promise<number> {
    // Index-friendly and bounded: the subquery walks the expiry / revoked_at indexes, LIMIT keeps
    // each DELETE short; tokens follow by ON DELETE CASCADE through refresh_tokens_family.
    const victims = this.db('refresh_families')
      .select('id')
      .where('expires_at', '<', cutoff)
      .orWhere('revoked_at', '<', cutoff)
      .limit(batch);
    return affectedRows(await this.db('refresh_families').whereIn('id', victims).del());
  }
}

/** Locks the matching unrevoked families in id order, the order every multi-family statement uses. */
async function lockLiveFamilies(trx: Knex.Transaction, where: Record<string, string>): Promise<string[]> {
  const rows: { id: string }[] = await trx('refresh_families')
    .where(where)
    .whereNull('revoked_at')
    .orderBy('id')
    .forUpdate()
    .select('id');
  return rows.map((r) => r.id);
}

/** RFC 9449 §5: a bound family is refreshed only with a proof of its own key. */
const keyMatches = (family: RefreshFamily, input: RotateInput) =>
  family.dpopJkt === null || family.dpopJkt === input.dpopJkt;

/** Finds a token by digest and locks its family row; re-reads the token after the lock. */
async function lockByHash(
  trx: Knex.Transaction,
  hash: string,
): Promise<{ family: RefreshFamily; token: TokenRow } | undefined> {
  const first: { family_id: string } | undefined = await trx('refresh_tokens')
    .where({ token_hash: hash })
    .first('family_id');
  if (!first) return undefined;
  const familyRow: FamilyRow | undefined = await trx('refresh_families')
    .where({ id: first.family_id })
    .forUpdate()
    .first();
  // Read again under the lock: READ COMMITTED shows what the previous lock holder committed.
  const token: TokenRow | undefined = await trx('refresh_tokens').where({ token_hash: hash }).first();
  if (!familyRow || !token) return undefined;
  return { family: familyFromRow(familyRow), token };
}

/**
 * rotate()'s transaction: finds the token's family and locks it in one statement, with the owner's
 * user row (read, not locked, as a separate lookup would), then re-reads the token under the lock
 * (READ COMMITTED: a new statement sees what the previous lock holder committed).
 */
async function lockForRotation(
  trx: Knex.Transaction,
  hash: string,
): Promise<{ family: RefreshFamily; token: TokenRow; user: UserRecord | undefined } | undefined> {
  const familyRow: (FamilyRow & Record<`u_${string}`, unknown>) | undefined = (
    (await trx.raw(
      `SELECT f.*, u.id AS u_id, u.username AS u_username, u.password_hash AS u_password_hash,
              u.roles AS u_roles, u.password_changed_at AS u_password_changed_at,
              u.disabled_at AS u_disabled_at, u.created_at AS u_created_at
         FROM refresh_families f LEFT JOIN users u ON u.id = f.user_id
        WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?)
          FOR UPDATE OF f`,
      [hash],
    )) as { rows: (FamilyRow & Record<`u_${string}`, unknown>)[] }
  ).rows[0];
  if (!familyRow) return undefined;
  const token: TokenRow | undefined = await trx('refresh_tokens').where({ token_hash: hash }).first();
  if (!token) return undefined;
  return { family: familyFromRow(familyRow), token, user: userOfRow(familyRow) };
}

/** The `u_`-prefixed owner columns of a family row joined with its user; undefined if gone. */
function userOfRow(row: Record<`u_${string}`, unknown>): UserRecord | undefined {
  if (row.u_id === null || row.u_id === undefined) return undefined;
  const user: UserRow = {
    id: row.u_id as string,
    username: row.u_username as string,
    password_hash: row.u_password_hash as string,
    roles: row.u_roles as string[],
    password_changed_at: row.u_password_changed_at as Date,
    disabled_at: row.u_disabled_at as Date | null,
    created_at: row.u_created_at as Date,
  };
  return userFromRow(user);
}

/** Spends one token and inserts its child in one statement (inside the family's lock). */
async function spendAndInsert(
  trx: Knex.Transaction,
  spendId: string,
  family: RefreshFamily,
  clientId: string,
  parentId: string,
  child: NewRefreshToken,
  now: Date,
): Promise<void> {
  // Rotation never extends the family: a token's idle expiry is capped at the family's.
  const expiresAt = child.idleExpiresAt < family.expiresAt ? child.idleExpiresAt : family.expiresAt;
  await trx.raw(
    `WITH spent AS (UPDATE refresh_tokens SET spent_at = ? WHERE id = ? RETURNING id)
     INSERT INTO refresh_tokens (id, family_id, parent_id, token_hash, client_id, created_at, expires_at)
     SELECT CAST(? AS uuid), CAST(? AS uuid), CAST(? AS uuid), ?, ?, CAST(? AS timestamptz), CAST(? AS timestamptz)
       FROM spent`,
    [now, spendId, child.id, family.id, parentId, child.hash, clientId, now, expiresAt],
  );
}

function tokenInsert(
  trx: Knex.Transaction,
  familyId: string,
  clientId: string,
  parentId: string | null,
  token: NewRefreshToken,
  now: Date,
  familyExpiresAt: Date,
): Knex.QueryBuilder {
  return trx('refresh_tokens').insert({
    id: token.id,
    family_id: familyId,
    parent_id: parentId,
    token_hash: token.hash,
    client_id: clientId,
    created_at: now,
    // Rotation never extends the family: a token's idle expiry is capped at the family's.
    expires_at: token.idleExpiresAt < familyExpiresAt ? token.idleExpiresAt : familyExpiresAt,
  });
}

/**
 * Data-modifying statements sent as one (PostgreSQL "WITH Queries", data-modifying statements in
 * WITH): each but the last becomes a CTE. They see one snapshot, so only statements that do not
 * read each other's rows belong together.
 */
async function inOneStatement(trx: Knex.Transaction, statements: (Knex.QueryBuilder | undefined)[]) {
  const parts = statements.filter((q) => q !== undefined).map((q) => q.toSQL());
  const last = parts.pop();
  if (!last) return;
  const ctes = parts.map((p, i) => `s${i} as (${p.sql})`);
  const sql = ctes.length > 0 ? `with ${ctes.join(', ')} ${last.sql}` : last.sql;
  await trx.raw(sql, [...parts.flatMap((p) => p.bindings), ...last.bindings]);
}

/**
 * Marks the families revoked and records their `sid` revocations durably in the same transaction,
 * so a crash between commit and the denylist cache update loses nothing (the denylist is rebuilt
 * from `revocations`). Each sid is blocked for as long as that family's access tokens can live.
 */
async function revokeFamiliesTx(
  trx: Knex.Transaction,
  ids: string[],
  revocation: FamilyRevocation,
): Promise<RevokedFamilies> {
  if (ids.length === 0) return NOTHING_REVOKED;
  const rows: { id: string; client_id: string; user_id: string }[] = await trx('refresh_families')
    .whereIn('id', ids)
    .whereNull('revoked_at')
    .update({ revoked_at: revocation.at, revoked_reason: revocation.reason })
    .returning(['id', 'client_id', 'user_id']);
  if (rows.length === 0) return NOTHING_REVOKED;
  const facts: SessionFact[] = rows.map((r) => ({
    type: 'session.ended',
    kind: 'refresh',
    sid: r.id,
    userId: r.user_id,
    clientId: r.client_id,
    reason: revocation.reason,
  }));
  await writeFacts(trx, revocation, facts);
  const clientIds = [...new Set(rows.map((r) => r.client_id))];
  const ttls = new Map<string, number | null>(
    (await trx('clients').whereIn('id', clientIds).select('id', 'access_token_ttl')).map(
      (c: { id: string; access_token_ttl: number | null }) => [c.id, c.access_token_ttl],
    ),
  );
  const revocations: Revocation[] = rows.map((r) => ({
    kind: 'sid',
    value: r.id,
    expiresAt: new Date(
      revocation.at.getTime() + Math.max(revocation.accessTokenTtl, ttls.get(r.client_id) ?? 0) * 1000,
    ),
    reason: revocation.reason,
  }));
  await upsertRevocations(trx, revocations, revocation.at);
  return { familyIds: rows.map((r) => r.id), revocations, facts };
}

const NOTHING_REVOKED: RevokedFamilies = { familyIds: [], revocations: [], facts: [] };

/** writeFacts' insert, built for a caller that sends it with other statements (inOneStatement). */
function factsInsert(
  trx: Knex.Transaction,
  revocation: Pick<FamilyRevocation, 'audit' | 'at'>,
  facts: SecurityFact[],
): Knex.QueryBuilder | undefined {
  return auditEventsInsert(trx, auditRows(revocation.audit, revocation.at, facts));
}

/**
 * The facts of a change, audited inside its transaction (src/facts/audit_rows.ts) with the stamp
 * and time of the revocation that carries them; returned for the publisher after commit.
 */
async function writeFacts<F extends SecurityFact>(
  trx: Knex.Transaction,
  revocation: Pick<FamilyRevocation, 'audit' | 'at'>,
  facts: F[],
): Promise<F[]> {
  await factsInsert(trx, revocation, facts);
  return facts;
}
