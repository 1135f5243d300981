import type { AuditEvent } from './audit.js';

/** Signing keys and their lifecycle steps (docs/keys.md). */

export type KeyState = 'next' | 'active' | 'retired' | 'revoked';

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  state: KeyState;
  publicJwk: Record<string, unknown>;
  /** Compact JWE of the private JWK under the KEK; never leaves the keys/ module decrypted. */
  privateJwe: string;
  createdAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export interface SigningKeyStore {
  list(): Promise<SigningKeyRecord[]>;
  /**
   * Creates the first active and next keys unless an active key exists, under a database lock so
   * that replicas booting together agree. Returns true if this call created them.
   */
  ensureInitial(make: () => Promise<[active: SigningKeyRecord, next: SigningKeyRecord]>): Promise<boolean>;
  /**
   * Applies one key-state transition (rotation, revocation or both) in a single transaction under
   * the key-table lock. `plan` sees the locked rows and returns the change, `null` for "nothing to
   * do", or throws to refuse (nothing is written). Returns the rows after the change, or `null`.
   */
  transition(
    plan: (keys: readonly SigningKeyRecord[]) => Promise<KeyTransition | null>,
  ): Promise<SigningKeyRecord[] | null>;
  /**
   * Re-encrypts private keys in one transaction under the key-table lock. `reseal` returns the new
   * ciphertext, or `null` to leave the row alone (already under the new KEK). Returns rows changed.
   */
  rewrap(reseal: (key: SigningKeyRecord) => Promise<string | null>): Promise<number>;
}

/** One step of the key lifecycle (docs/keys.md), applied atomically by SigningKeyStore.transition. */
export interface KeyTransition {
  at: Date;
  /** Pull this key from JWKS at once (state `revoked`). */
  revokeKid?: string;
  /** Promote `next` to `active` and retire the old `active` (unless it is the revoked one). */
  promote: boolean;
  /** When the retiring key leaves JWKS: every token it signed has expired by then. */
  retiredExpiresAt: Date;
  /** The new `next` key, required whenever the current `next` is promoted or revoked. */
  newNext?: SigningKeyRecord;
  /** `key.*` audit events, written in the transition's transaction. */
  audit?: AuditEvent[];
}
