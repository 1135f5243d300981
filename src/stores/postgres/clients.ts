import type { Knex } from 'knex';
import type { ClientRecord, ClientStore, GrantType, NewClient } from '../types.js';
import { affectedRows, toDate, toDateOrNull } from './rows.js';

interface ClientRow {
  id: string;
  name: string;
  secret_hash: string | null;
  grant_types: string[];
  scopes: string[];
  audiences: string[];
  can_introspect: boolean;
  is_admin: boolean;
  access_token_ttl: number | null;
  refresh_token_idle_ttl: number | null;
  refresh_token_max_age: number | null;
  refresh_reuse_leeway: number | null;
  redirect_uris: string[];
  allowed_origins: string[];
  refresh_cookie: boolean;
  disabled_at: Date | null;
  created_at: Date;
}

const fromRow = (r: ClientRow): ClientRecord => ({
  id: r.id,
  name: r.name,
  secretHash: r.secret_hash,
  grantTypes: r.grant_types as GrantType[],
  scopes: r.scopes,
  audiences: r.audiences,
  canIntrospect: r.can_introspect,
  isAdmin: r.is_admin,
  accessTokenTtl: r.access_token_ttl,
  refreshTokenIdleTtl: r.refresh_token_idle_ttl,
  refreshTokenMaxAge: r.refresh_token_max_age,
  refreshReuseLeeway: r.refresh_reuse_leeway,
  redirectUris: r.redirect_uris,
  allowedOrigins: r.allowed_origins,
  refreshCookie: r.refresh_cookie,
  disabledAt: toDateOrNull(r.disabled_at),
  createdAt: toDate(r.created_at),
});

export class PostgresClientStore implements ClientStore {
  constructor(private readonly db: Knex) {}

  async create(c: NewClient): Promise<ClientRecord> {
    const [row] = await this.db<ClientRow>('clients')
      .insert({
        id: c.id,
        name: c.name,
        secret_hash: c.secretHash,
        grant_types: c.grantTypes,
        scopes: c.scopes,
        audiences: c.audiences,
        can_introspect: c.canIntrospect,
        is_admin: c.isAdmin,
        access_token_ttl: c.accessTokenTtl,
        refresh_token_idle_ttl: c.refreshTokenIdleTtl,
        refresh_token_max_age: c.refreshTokenMaxAge,
        refresh_reuse_leeway: c.refreshReuseLeeway,
        redirect_uris: c.redirectUris,
        allowed_origins: c.allowedOrigins,
        refresh_cookie: c.refreshCookie,
      })
      .returning('*');
    return fromRow(row as ClientRow);
  }

  async findById(id: string): Promise<ClientRecord | undefined> {
    const row = await this.db<ClientRow>('clients').where({ id }).first();
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<ClientRecord[]> {
    const rows = await this.db<ClientRow>('clients').orderBy('created_at').orderBy('id');
    return rows.map(fromRow);
  }

  async disable(id: string, at: Date): Promise<boolean> {
    const n = await this.db('clients').where({ id }).update({ disabled_at: at });
    return affectedRows(n) > 0;
  }

  async count(): Promise<number> {
    const row = await this.db('clients').count<{ n: string }[]>({ n: '*' }).first();
    return Number(row?.n ?? 0);
  }
}
