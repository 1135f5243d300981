import type { Knex } from 'knex';
import { isThirdParty, type ThirdPartySettings, thirdPartyView } from '../../thirdparty/limits.js';
import type {
  ClientChanges,
  ClientKind,
  ClientRecord,
  ClientStore,
  GrantType,
  NewClient,
  PageQuery,
} from '../types.js';
import { afterCursor } from './page.js';
import { affectedRows, toDate, toDateOrNull } from './rows.js';

interface ClientRow {
  id: string;
  name: string;
  kind: ClientKind;
  secret_hash: string | null;
  grant_types: string[];
  scopes: string[];
  audiences: string[];
  audience_is_default: boolean;
  can_introspect: boolean;
  is_admin: boolean;
  access_token_ttl: number | null;
  refresh_token_idle_ttl: number | null;
  refresh_token_max_age: number | null;
  refresh_reuse_leeway: number | null;
  redirect_uris: string[];
  allowed_origins: string[];
  refresh_cookie: boolean;
  dpop_bound_access_tokens: boolean;
  disabled_at: Date | null;
  created_at: Date;
}

const fromRow = (r: ClientRow, issuer: string): ClientRecord => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  secretHash: r.secret_hash,
  grantTypes: r.grant_types as GrantType[],
  scopes: r.scopes,
  // The stored value of a default audience is only for the previous release (see the migration).
  audiences: r.audience_is_default ? [issuer] : r.audiences,
  audienceIsDefault: r.audience_is_default,
  canIntrospect: r.can_introspect,
  isAdmin: r.is_admin,
  accessTokenTtl: r.access_token_ttl,
  refreshTokenIdleTtl: r.refresh_token_idle_ttl,
  refreshTokenMaxAge: r.refresh_token_max_age,
  refreshReuseLeeway: r.refresh_reuse_leeway,
  redirectUris: r.redirect_uris,
  allowedOrigins: r.allowed_origins,
  refreshCookie: r.refresh_cookie,
  dpopBoundAccessTokens: r.dpop_bound_access_tokens,
  disabledAt: toDateOrNull(r.disabled_at),
  createdAt: toDate(r.created_at),
});

/**
 * The client table on Postgres (real or PGlite). Every record it reads comes with the limits of a
 * third-party client applied (src/thirdparty/limits.ts, docs/mcp.md), so narrowing a setting
 * narrows every existing client, whoever reads it; every write tells its listeners (the hot-path
 * cache of this instance, src/stores/cached_clients.ts) which client changed.
 */
export class PostgresClientStore implements ClientStore {
  private readonly listeners: ((clientId: string) => void)[] = [];

  /**
   * `issuer`: the ISSUER this process runs with, the audience of clients registered without one.
   * `thirdParty`: THIRD_PARTY_SCOPES and THIRD_PARTY_AUDIENCES (compose.ts); without it, records
   * are as stored (store tests).
   */
  constructor(
    private readonly db: Knex,
    private readonly issuer: string,
    private readonly thirdParty?: ThirdPartySettings,
  ) {}

  /** Called with the client's id after every write to it, committed or not. */
  onChange(listener: (clientId: string) => void): void {
    this.listeners.push(listener);
  }

  private record(row: ClientRow): ClientRecord {
    const client = fromRow(row, this.issuer);
    return this.thirdParty && isThirdParty(client) ? thirdPartyView(client, this.thirdParty) : client;
  }

  private async changing<T>(id: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      for (const listener of this.listeners) listener(id);
    }
  }

  async create(c: NewClient): Promise<ClientRecord> {
    // An unknown id may be cached as unknown: the new client must be seen at once.
    const [row] = await this.changing(c.id, () =>
      this.db<ClientRow>('clients')
        .insert({
          id: c.id,
          name: c.name,
          kind: c.kind ?? 'first_party',
          secret_hash: c.secretHash,
          grant_types: c.grantTypes,
          scopes: c.scopes,
          audiences: c.audiences,
          audience_is_default: c.audienceIsDefault,
          can_introspect: c.canIntrospect,
          is_admin: c.isAdmin,
          access_token_ttl: c.accessTokenTtl,
          refresh_token_idle_ttl: c.refreshTokenIdleTtl,
          refresh_token_max_age: c.refreshTokenMaxAge,
          refresh_reuse_leeway: c.refreshReuseLeeway,
          redirect_uris: c.redirectUris,
          allowed_origins: c.allowedOrigins,
          refresh_cookie: c.refreshCookie,
          dpop_bound_access_tokens: c.dpopBoundAccessTokens,
        })
        .returning('*'),
    );
    return this.record(row as ClientRow);
  }

  async findById(id: string): Promise<ClientRecord | undefined> {
    const row = await this.db<ClientRow>('clients').where({ id }).first();
    return row ? this.record(row) : undefined;
  }

  async list(): Promise<ClientRecord[]> {
    const rows = await this.db<ClientRow>('clients').orderBy('created_at').orderBy('id');
    return rows.map((r) => this.record(r));
  }

  async disable(id: string, at: Date): Promise<boolean> {
    const n = await this.changing(id, () => this.db('clients').where({ id }).update({ disabled_at: at }));
    return affectedRows(n) > 0;
  }

  async count(): Promise<number> {
    const row = await this.db('clients').count<{ n: string }[]>({ n: '*' }).first();
    return Number(row?.n ?? 0);
  }

  async page(query: PageQuery): Promise<ClientRecord[]> {
    const rows = await afterCursor(this.db, this.db<ClientRow>('clients'), query).select('*');
    return rows.map((r) => this.record(r));
  }

  async update(id: string, changes: ClientChanges): Promise<ClientRecord | undefined> {
    const set: Partial<ClientRow> = {};
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.grantTypes !== undefined) set.grant_types = changes.grantTypes;
    if (changes.scopes !== undefined) set.scopes = changes.scopes;
    if (changes.audiences !== undefined) {
      // Audiences set explicitly are registered ones: they no longer follow the ISSUER.
      set.audiences = changes.audiences;
      set.audience_is_default = false;
    }
    if (changes.redirectUris !== undefined) set.redirect_uris = changes.redirectUris;
    if (changes.allowedOrigins !== undefined) set.allowed_origins = changes.allowedOrigins;
    if (changes.refreshCookie !== undefined) set.refresh_cookie = changes.refreshCookie;
    if (changes.dpopBoundAccessTokens !== undefined)
      set.dpop_bound_access_tokens = changes.dpopBoundAccessTokens;
    if (Object.keys(set).length === 0) return this.findById(id);
    const [row] = await this.changing(id, () =>
      this.db<ClientRow>('clients').where({ id }).update(set).returning('*'),
    );
    return row ? this.record(row as ClientRow) : undefined;
  }

  async setSecretHash(id: string, secretHash: string): Promise<boolean> {
    const n = await this.changing(id, () =>
      this.db('clients').where({ id }).update({ secret_hash: secretHash }),
    );
    return affectedRows(n) > 0;
  }
}
