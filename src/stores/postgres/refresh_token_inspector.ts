import type { Knex } from 'knex';
import type { RefreshTokenInspector, RefreshTokenView } from '../types.js';
import { liveRefreshTokenSql } from './live.js';
import { toDate } from './rows.js';

/**
 * Introspection's read-only view of refresh tokens: one indexed lookup by digest joined with its
 * family, user and client. Liveness is decided in SQL: a live refresh token (src/stores/postgres/
 * live.ts, the one definition) whose user and client are not disabled.
 */
export class PostgresRefreshTokenInspector implements RefreshTokenInspector {
  constructor(private readonly db: Knex) {}

  async inspect(tokenHash: string, now: Date): Promise<RefreshTokenView | undefined> {
    const row = await this.db('refresh_tokens as t')
      .join('refresh_families as f', 'f.id', 't.family_id')
      .join('users as u', 'u.id', 'f.user_id')
      .join('clients as c', 'c.id', 'f.client_id')
      .where('t.token_hash', tokenHash)
      .whereRaw(liveRefreshTokenSql('t', 'f'), [now, now])
      .whereNull('u.disabled_at')
      .whereNull('c.disabled_at')
      .first(
        't.id as token_id',
        't.client_id',
        't.created_at',
        't.expires_at as token_expires_at',
        'f.id as family_id',
        'f.scope',
        'f.audience',
        'f.expires_at as family_expires_at',
        'u.id as user_id',
        'u.username',
      );
    if (!row) return undefined;
    const tokenExp = toDate(row.token_expires_at);
    const familyExp = toDate(row.family_expires_at);
    return {
      tokenId: row.token_id,
      clientId: row.client_id,
      userId: row.user_id,
      username: row.username,
      scope: row.scope,
      familyId: row.family_id,
      // jsonb arrives parsed (pg and PGlite): a string or an array of strings.
      aud: row.audience as string | string[],
      iat: toDate(row.created_at),
      exp: new Date(Math.min(tokenExp.getTime(), familyExp.getTime())),
    };
  }
}
