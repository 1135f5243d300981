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

  async deleteByHash(hash: string): Promise<void> {
    await this.db('login_sessions').where({ token_hash: hash }).delete();
  }

  async purge(cutoff: Date, batch: number): Promise<number> {
    const doomed = this.db('login_sessions').select('id').where('expires_at', '<', cutoff).limit(batch);
    return affectedRows(await this.db('login_sessions').whereIn('id', doomed).delete());
  }
}
