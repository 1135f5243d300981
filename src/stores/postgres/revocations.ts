import type { Knex } from 'knex';
import type { Revocation, RevocationKind, RevocationStore } from '../types.js';
import { affectedRows, toDate } from './rows.js';

/**
 * Records revocations durably, on `db` or inside a caller's transaction. A later revocation of the
 * same value may need to last longer; an earlier expiry never shortens one.
 */
export async function upsertRevocations(db: Knex, entries: Revocation[], at: Date): Promise<void> {
  if (entries.length === 0) return;
  await db('revocations')
    .insert(
      entries.map((e) => ({
        kind: e.kind,
        value: e.value,
        expires_at: e.expiresAt,
        created_at: at,
        reason: e.reason ?? null,
      })),
    )
    .onConflict(['kind', 'value'])
    .merge({ expires_at: db.raw('GREATEST(revocations.expires_at, excluded.expires_at)') });
}

export class PostgresRevocationStore implements RevocationStore {
  constructor(private readonly db: Knex) {}

  async record(entries: Revocation[], at: Date): Promise<void> {
    await upsertRevocations(this.db, entries, at);
  }

  async listLive(now: Date): Promise<Revocation[]> {
    const rows = await this.db('revocations')
      .where('expires_at', '>', now)
      .select('kind', 'value', 'expires_at');
    return rows.map((r: { kind: RevocationKind; value: string; expires_at: Date }) => ({
      kind: r.kind,
      value: r.value,
      expiresAt: toDate(r.expires_at),
    }));
  }

  async anyRevoked(keys: { kind: RevocationKind; value: string }[], now: Date): Promise<boolean> {
    if (keys.length === 0) return false;
    const row = await this.db('revocations')
      .where('expires_at', '>', now)
      .where((q) => {
        for (const k of keys) q.orWhere({ kind: k.kind, value: k.value });
      })
      .first('kind');
    return row !== undefined;
  }

  async purgeExpired(now: Date, batch: number): Promise<number> {
    // Batched so one purge never holds a long lock; the expiry index makes the subquery cheap.
    const result = await this.db('revocations')
      .whereIn(
        ['kind', 'value'],
        this.db('revocations').select('kind', 'value').where('expires_at', '<=', now).limit(batch),
      )
      .del();
    return affectedRows(result);
  }
}
