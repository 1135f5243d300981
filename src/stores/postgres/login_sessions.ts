import type { Knex } from 'knex';
import { auditRows } from '../../facts/audit_rows.js';
import type { SessionFact } from '../../facts/facts.js';
import type { LoginSessionEnding, LoginSessionRecord, LoginSessionStore } from '../types.js';
import { insertAuditEvents } from './audit_events.js';
import { affectedRows, toDate } from './rows.js';

interface LoginSessionRow {
  id: string;
  token_hash: string;
  user_id: string;
  created_at: Date;
  expires_at: Date;
}

const fromRow = (r: LoginSessionRow): LoginSessionRecord => ({
  id: r.id,
  userId: r.user_id,
  createdAt: toDate(r.created_at),
  expiresAt: toDate(r.expires_at),
});

/** Browser login sessions of /authorize on Postgres (real or PGlite), keyed by the cookie's digest. */
export class PostgresLoginSessionStore implements LoginSessionStore {
  constructor(private readonly db: Knex) {}

  async create(s: LoginSessionRecord & { hash: string }): Promise<void> {
    await this.db('login_sessions').insert({
      id: s.id,
      token_hash: s.hash,
      user_id: s.userId,
      created_at: s.createdAt,
      expires_at: s.expiresAt,
    });
  }

  async findByHash(hash: string): Promise<LoginSessionRecord | undefined> {
    const row = await this.db<LoginSessionRow>('login_sessions').where({ token_hash: hash }).first();
    return row ? fromRow(row) : undefined;
  }

  async listLive(userId: string, now: Date): Promise<LoginSessionRecord[]> {
    const rows = await this.db<LoginSessionRow>('login_sessions')
      .where({ user_id: userId })
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc');
    return rows.map(fromRow);
  }

  async endByHash(hash: string, ending: LoginSessionEnding): Promise<SessionFact[]> {
    return this.db.transaction(
      async (trx) => (await endLoginSessionsTx(trx, { token_hash: hash }, ending)).facts,
    );
  }

  async purge(cutoff: Date, batch: number): Promise<number> {
    const doomed = this.db('login_sessions').select('id').where('expires_at', '<', cutoff).limit(batch);
    return affectedRows(await this.db('login_sessions').whereIn('id', doomed).delete());
  }
}

/**
 * Ends login sessions inside the caller's transaction (a session's end is one transaction): the
 * row goes, so the cookie no longer signs anyone in, and each one still alive is `ended` and
 * audited as a `login` session (docs/audit.md). `deleted` counts expired rows too (they existed).
 */
export async function endLoginSessionsTx(
  trx: Knex.Transaction,
  where: { user_id: string } | { id: string } | { token_hash: string },
  ending: LoginSessionEnding,
): Promise<{ ended: string[]; deleted: number; facts: SessionFact[] }> {
  const rows: LoginSessionRow[] = await trx('login_sessions').where(where).delete().returning('*');
  const ended = rows.map(fromRow).filter((l) => l.expiresAt > ending.at);
  const facts: SessionFact[] = ended.map((l) => ({
    type: 'session.ended',
    kind: 'login',
    sid: l.id,
    userId: l.userId,
    clientId: null,
    reason: ending.reason,
  }));
  await insertAuditEvents(trx, auditRows(ending.audit, ending.at, facts));
  return { ended: ended.map((l) => l.id), deleted: rows.length, facts };
}
