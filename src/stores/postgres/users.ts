import type { Knex } from 'knex';
import type { NewUser, PageQuery, UserRecord, UserStore } from '../types.js';
import { afterCursor } from './page.js';
import { affectedRows, toDate, toDateOrNull } from './rows.js';

export interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  roles: string[];
  password_changed_at: Date;
  disabled_at: Date | null;
  created_at: Date;
}

export const userFromRow = (r: UserRow): UserRecord => ({
  id: r.id,
  username: r.username,
  passwordHash: r.password_hash,
  roles: r.roles ?? [],
  passwordChangedAt: toDate(r.password_changed_at),
  disabledAt: toDateOrNull(r.disabled_at),
  createdAt: toDate(r.created_at),
});

export class PostgresUserStore implements UserStore {
  constructor(private readonly db: Knex) {}

  async create(user: NewUser): Promise<UserRecord> {
    const [row] = await this.db<UserRow>('users')
      .insert({ id: user.id, username: user.username, password_hash: user.passwordHash, roles: user.roles })
      .returning('*');
    return userFromRow(row as UserRow);
  }

  async findByUsername(username: string): Promise<UserRecord | undefined> {
    const row = await this.db<UserRow>('users').where({ username }).first();
    return row ? userFromRow(row) : undefined;
  }

  async findById(id: string): Promise<UserRecord | undefined> {
    const row = await this.db<UserRow>('users').where({ id }).first();
    return row ? userFromRow(row) : undefined;
  }

  async disable(id: string, at: Date): Promise<boolean> {
    const n = await this.db('users').where({ id }).update({ disabled_at: at });
    return affectedRows(n) > 0;
  }

  async setPasswordHash(id: string, passwordHash: string, at: Date): Promise<boolean> {
    const n = await this.db('users')
      .where({ id })
      .update({ password_hash: passwordHash, password_changed_at: at });
    return affectedRows(n) > 0;
  }

  async count(): Promise<number> {
    const row = await this.db('users').count<{ n: string }[]>({ n: '*' }).first();
    return Number(row?.n ?? 0);
  }

  async page(query: PageQuery): Promise<UserRecord[]> {
    const rows = await afterCursor(this.db, this.db<UserRow>('users'), query).select('*');
    return rows.map(userFromRow);
  }
}
