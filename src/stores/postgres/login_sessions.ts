import type { Knex } from 'knex';
import type { LoginSessionRecord, LoginSessionStore } from '../types.js';
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

  async deleteByHash(hash: string): Promise<void> {
    await this.db('login_sessions').where({ token_hash: hash }).delete();
  }

  async purge(cutoff: Date, batch: number): Promise<number> {
    const doomed = this.db('login_sessions').select('id').where('expires_at', '<', cutoff).limit(batch);
    return affectedRows(await this.db('login_sessions').whereIn('id', doomed).delete());
  }
}

/**
 * Ends login sessions inside the caller's transaction (a session's end is one transaction): the
 * row goes, so the cookie no longer signs anyone in. Returns every row deleted, expired ones too.
 */
export async function deleteLoginSessionsTx(
  trx: Knex.Transaction,
  where: { user_id: string } | { id: string },
): Promise<LoginSessionRecord[]> {
  const rows: LoginSessionRow[] = await trx('login_sessions').where(where).delete().returning('*');
  return rows.map(fromRow);
}
