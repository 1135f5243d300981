import type { Knex } from 'knex';
import type {
  AuthorizationCodeRecord,
  AuthorizationCodeStore,
  NewAuthorizationCode,
  RedeemOutcome,
} from '../types.js';
import { affectedRows, toDate, toDateOrNull } from './rows.js';

interface CodeRow {
  code_hash: string;
  client_id: string;
  user_id: string;
  redirect_uri: string;
  code_challenge: string;
  scope: string;
  audience: string[] | string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  family_id: string | null;
  reused_at: Date | null;
  login_session_id: string | null;
  dpop_jkt: string | null;
}

const fromRow = (r: CodeRow): AuthorizationCodeRecord => ({
  clientId: r.client_id,
  userId: r.user_id,
  redirectUri: r.redirect_uri,
  codeChallenge: r.code_challenge,
  scope: r.scope,
  audience: typeof r.audience === 'string' ? (JSON.parse(r.audience) as string[]) : r.audience,
  createdAt: toDate(r.created_at),
  expiresAt: toDate(r.expires_at),
  usedAt: toDateOrNull(r.used_at),
  familyId: r.family_id,
  loginSessionId: r.login_session_id ?? null,
  dpopJkt: r.dpop_jkt ?? null,
});

/** Authorization codes on Postgres (real or PGlite): single use is one conditional UPDATE. */
export class PostgresAuthorizationCodeStore implements AuthorizationCodeStore {
  constructor(private readonly db: Knex) {}

  async create(c: NewAuthorizationCode): Promise<void> {
    await this.db('authorization_codes').insert({
      code_hash: c.hash,
      client_id: c.clientId,
      user_id: c.userId,
      redirect_uri: c.redirectUri,
      code_challenge: c.codeChallenge,
      scope: c.scope,
      audience: JSON.stringify(c.audience),
      created_at: c.createdAt,
      expires_at: c.expiresAt,
      login_session_id: c.loginSessionId ?? null,
      dpop_jkt: c.dpopJkt ?? null,
    });
  }

  async findByHash(hash: string): Promise<AuthorizationCodeRecord | undefined> {
    const row = await this.db<CodeRow>('authorization_codes').where({ code_hash: hash }).first();
    return row ? fromRow(row) : undefined;
  }

  async redeem(hash: string, familyId: string, at: Date): Promise<RedeemOutcome> {
    // The single-use condition: of concurrent redemptions exactly one sees `used_at IS NULL`.
    const [won] = await this.db<CodeRow>('authorization_codes')
      .where({ code_hash: hash })
      .whereNull('used_at')
      .update({ used_at: at, family_id: familyId })
      .returning('*');
    if (won) return { kind: 'redeemed', code: fromRow(won as CodeRow) };
    const replayed = await this.markReplayed(hash, at);
    return replayed ? { kind: 'replayed', code: replayed } : { kind: 'not_found' };
  }

  async markReplayed(hash: string, at: Date): Promise<AuthorizationCodeRecord | undefined> {
    const [replayed] = await this.db<CodeRow>('authorization_codes')
      .where({ code_hash: hash })
      .update({ reused_at: at })
      .returning('*');
    return replayed ? fromRow(replayed as CodeRow) : undefined;
  }

  async wasReplayed(hash: string): Promise<boolean> {
    const row = await this.db<CodeRow>('authorization_codes')
      .where({ code_hash: hash })
      .whereNotNull('reused_at')
      .first('code_hash');
    return row !== undefined;
  }

  async purge(cutoff: Date, batch: number): Promise<number> {
    const doomed = this.db('authorization_codes')
      .select('code_hash')
      .where('expires_at', '<', cutoff)
      .limit(batch);
    return affectedRows(await this.db('authorization_codes').whereIn('code_hash', doomed).delete());
  }
}

/**
 * Deletes the user's codes not yet redeemed, inside the caller's transaction, so a code issued
 * before the user's sessions ended cannot start a new one. Used codes stay: a replay still revokes.
 */
export async function deletePendingCodesTx(trx: Knex.Transaction, userId: string): Promise<number> {
  return affectedRows(
    await trx('authorization_codes').where({ user_id: userId }).whereNull('used_at').delete(),
  );
}
