import type { Knex } from 'knex';
import type { KeyState, KeyTransition, SigningKeyRecord, SigningKeyStore } from '../types.js';
import { insertAuditEvents } from './audit_events.js';
import { toDate, toDateOrNull } from './rows.js';

/** Arbitrary constant id of the transaction-level advisory lock that serialises key-table changes. */
export const KEY_TABLE_LOCK_ID = 0x7e55e7a;

interface KeyRow {
  kid: string;
  alg: string;
  state: KeyState;
  public_jwk: Record<string, unknown>;
  private_jwe: string;
  created_at: Date;
  activated_at: Date | null;
  retired_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}

export const keyFromRow = (r: KeyRow): SigningKeyRecord => ({
  kid: r.kid,
  alg: r.alg,
  state: r.state,
  publicJwk: typeof r.public_jwk === 'string' ? JSON.parse(r.public_jwk) : r.public_jwk,
  privateJwe: r.private_jwe,
  createdAt: toDate(r.created_at),
  activatedAt: toDateOrNull(r.activated_at),
  retiredAt: toDateOrNull(r.retired_at),
  expiresAt: toDateOrNull(r.expires_at),
  revokedAt: toDateOrNull(r.revoked_at),
});

export const keyToRow = (k: SigningKeyRecord): KeyRow => ({
  kid: k.kid,
  alg: k.alg,
  state: k.state,
  public_jwk: k.publicJwk,
  private_jwe: k.privateJwe,
  created_at: k.createdAt,
  activated_at: k.activatedAt,
  retired_at: k.retiredAt,
  expires_at: k.expiresAt,
  revoked_at: k.revokedAt,
});

/** Takes the key-table lock for the rest of the transaction. */
export async function lockKeyTable(trx: Knex.Transaction): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock(?)', [KEY_TABLE_LOCK_ID]);
}

export class PostgresSigningKeyStore implements SigningKeyStore {
  constructor(protected readonly db: Knex) {}

  async list(): Promise<SigningKeyRecord[]> {
    const rows = await this.db<KeyRow>('signing_keys').orderBy('created_at', 'desc');
    return rows.map(keyFromRow);
  }

  async ensureInitial(make: () => Promise<[SigningKeyRecord, SigningKeyRecord]>): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      await lockKeyTable(trx);
      const existing = await trx('signing_keys').where({ state: 'active' }).first();
      if (existing) return false;
      const [active, next] = await make();
      await trx('signing_keys').insert([keyToRow(active), keyToRow(next)].map(serialiseJwk));
      return true;
    });
  }

  async transition(
    plan: (keys: readonly SigningKeyRecord[]) => Promise<KeyTransition | null>,
  ): Promise<SigningKeyRecord[] | null> {
    return this.db.transaction(async (trx) => {
      await lockKeyTable(trx);
      const keys = (await trx<KeyRow>('signing_keys').orderBy('created_at', 'desc')).map(keyFromRow);
      const change = await plan(keys);
      if (!change) return null;
      const { at } = change;
      // Order matters for the one-active / one-next partial unique indexes: vacate, then fill.
      if (change.revokeKid) {
        await trx('signing_keys')
          .where({ kid: change.revokeKid })
          .whereNot({ state: 'revoked' })
          .update({ state: 'revoked', revoked_at: at });
      }
      if (change.promote) {
        await trx('signing_keys')
          .where({ state: 'active' })
          .update({ state: 'retired', retired_at: at, expires_at: change.retiredExpiresAt });
        const promoted = await trx('signing_keys')
          .where({ state: 'next' })
          .update({ state: 'active', activated_at: at });
        if (promoted !== 1) throw new Error('no next key to promote');
      }
      if (change.newNext) await trx('signing_keys').insert(serialiseJwk(keyToRow(change.newNext)));
      await insertAuditEvents(trx, change.audit ?? []);
      // "Removed" (docs/keys.md): once every token a retired key signed has expired, nothing can need
      // it again, so the row and its encrypted private part are deleted. Revoked rows stay as a record.
      await trx('signing_keys').where({ state: 'retired' }).where('expires_at', '<=', at).delete();
      const after = await trx<KeyRow>('signing_keys').orderBy('created_at', 'desc');
      return after.map(keyFromRow);
    });
  }

  async rewrap(reseal: (key: SigningKeyRecord) => Promise<string | null>): Promise<number> {
    return this.db.transaction(async (trx) => {
      await lockKeyTable(trx);
      const keys = (await trx<KeyRow>('signing_keys').orderBy('created_at', 'desc')).map(keyFromRow);
      let changed = 0;
      for (const key of keys) {
        const sealed = await reseal(key);
        if (sealed === null) continue;
        await trx('signing_keys').where({ kid: key.kid }).update({ private_jwe: sealed });
        changed++;
      }
      return changed;
    });
  }
}

/** jsonb columns take a JSON string portably across pg and PGlite. */
export const serialiseJwk = (row: KeyRow) => ({ ...row, public_jwk: JSON.stringify(row.public_jwk) });
