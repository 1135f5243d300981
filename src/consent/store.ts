import type { Knex } from 'knex';
import { affectedRows, toDate } from '../stores/postgres/rows.js';

/** A user's remembered consent to a third-party client (docs/mcp.md, "Consent"). */
export interface ConsentRecord {
  userId: string;
  clientId: string;
  /** Space-separated scope tokens, sorted. */
  scope: string;
  /** The RFC 8707 `resource` asked for; '' when none (the token is for the ISSUER). */
  resource: string;
  grantedAt: Date;
  expiresAt: Date;
}

export interface ConsentStore {
  /** Remembers (or renews) a consent. */
  save(consent: ConsentRecord): Promise<void>;
  /** True when a consent for exactly this scope and resource lives at `now`. */
  has(key: Pick<ConsentRecord, 'userId' | 'clientId' | 'scope' | 'resource'>, now: Date): Promise<boolean>;
  /** The user's live consents, newest first. */
  listLive(userId: string, now: Date): Promise<ConsentRecord[]>;
  /** Forgets every consent of the user to the client; returns how many. */
  revoke(userId: string, clientId: string): Promise<number>;
  /** A deleted registration takes its consents with it. */
  revokeClient(clientId: string): Promise<number>;
  purge(cutoff: Date, batch: number): Promise<number>;
}

interface ConsentRow {
  user_id: string;
  client_id: string;
  scope: string;
  resource: string;
  granted_at: Date;
  expires_at: Date;
}

const fromRow = (r: ConsentRow): ConsentRecord => ({
  userId: r.user_id,
  clientId: r.client_id,
  scope: r.scope,
  resource: r.resource,
  grantedAt: toDate(r.granted_at),
  expiresAt: toDate(r.expires_at),
});

/** Consents on Postgres (real or PGlite), shared by every instance. */
export class PostgresConsentStore implements ConsentStore {
  constructor(private readonly db: Knex) {}

  async save(c: ConsentRecord): Promise<void> {
    await this.db('consents')
      .insert({
        user_id: c.userId,
        client_id: c.clientId,
        scope: c.scope,
        resource: c.resource,
        granted_at: c.grantedAt,
        expires_at: c.expiresAt,
      })
      .onConflict(['user_id', 'client_id', 'scope', 'resource'])
      .merge(['granted_at', 'expires_at']);
  }

  async has(key: Pick<ConsentRecord, 'userId' | 'clientId' | 'scope' | 'resource'>, now: Date) {
    const row = await this.db('consents')
      .where({ user_id: key.userId, client_id: key.clientId, scope: key.scope, resource: key.resource })
      .andWhere('expires_at', '>', now)
      .first('user_id');
    return row !== undefined;
  }

  async listLive(userId: string, now: Date): Promise<ConsentRecord[]> {
    const rows = await this.db<ConsentRow>('consents')
      .where({ user_id: userId })
      .andWhere('expires_at', '>', now)
      .orderBy('granted_at', 'desc');
    return rows.map(fromRow);
  }

  async revoke(userId: string, clientId: string): Promise<number> {
    return affectedRows(await this.db('consents').where({ user_id: userId, client_id: clientId }).delete());
  }

  async revokeClient(clientId: string): Promise<number> {
    return affectedRows(await this.db('consents').where({ client_id: clientId }).delete());
  }

  async purge(cutoff: Date, batch: number): Promise<number> {
    const expired = this.db('consents').where('expires_at', '<', cutoff).limit(batch).select('ctid');
    return affectedRows(await this.db('consents').whereIn('ctid', expired).delete());
  }
}
