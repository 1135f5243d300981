import type { Knex } from 'knex';
import { toDate } from '../stores/postgres/rows.js';

/** The RFC 7592 side of a registered client: its registration access token (digest) and metadata. */
export interface RegistrationRecord {
  clientId: string;
  /** SHA-256 of the registration access token, base64url. */
  accessTokenHash: string;
  /** The client metadata as registered (RFC 7591 §2 names). */
  metadata: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

export interface RegistrationStore {
  create(record: RegistrationRecord): Promise<void>;
  find(clientId: string): Promise<RegistrationRecord | undefined>;
  update(clientId: string, metadata: Record<string, unknown>, at: Date): Promise<void>;
  delete(clientId: string): Promise<void>;
}

interface RegistrationRow {
  client_id: string;
  access_token_hash: string;
  metadata: Record<string, unknown> | string;
  created_at: Date;
  updated_at: Date;
}

export class PostgresRegistrationStore implements RegistrationStore {
  constructor(private readonly db: Knex) {}

  async create(r: RegistrationRecord): Promise<void> {
    await this.db('client_registrations').insert({
      client_id: r.clientId,
      access_token_hash: r.accessTokenHash,
      metadata: JSON.stringify(r.metadata),
      created_at: r.createdAt,
      updated_at: r.updatedAt,
    });
  }

  async find(clientId: string): Promise<RegistrationRecord | undefined> {
    const row = await this.db<RegistrationRow>('client_registrations').where({ client_id: clientId }).first();
    if (!row) return undefined;
    return {
      clientId: row.client_id,
      accessTokenHash: row.access_token_hash,
      metadata: typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata,
      createdAt: toDate(row.created_at),
      updatedAt: toDate(row.updated_at),
    };
  }

  async update(clientId: string, metadata: Record<string, unknown>, at: Date): Promise<void> {
    await this.db('client_registrations')
      .where({ client_id: clientId })
      .update({ metadata: JSON.stringify(metadata), updated_at: at });
  }

  async delete(clientId: string): Promise<void> {
    await this.db('client_registrations').where({ client_id: clientId }).delete();
  }
}
