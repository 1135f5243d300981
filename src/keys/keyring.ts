import type { CryptoKey } from 'jose';
import type { SigningAlg } from '../config.js';
import { strongEtag } from '../etag.js';
import type { SigningKeyRecord, SigningKeyStore } from '../stores/types.js';
import { generateSigningKey, importPrivateKey, importPublicKey } from './key_material.js';

export interface Signer {
  kid: string;
  alg: string;
  key: CryptoKey;
}

export interface VerificationKey {
  kid: string;
  alg: string;
  key: CryptoKey;
}

/** An immutable view of the key table; swapped atomically on reload. */
export interface KeySnapshot {
  signer: Signer;
  /** Every key published in JWKS, by kid. Tokens verify only against these. */
  verificationKeys: ReadonlyMap<string, VerificationKey>;
  /** The algorithms of published keys: the verification allow-list. */
  algorithms: readonly string[];
  jwks: { body: string; etag: string };
  records: readonly SigningKeyRecord[];
}

export interface KeyRingOptions {
  store: SigningKeyStore;
  kek: Uint8Array;
  signingAlg: SigningAlg;
  now: () => number;
}

/** True if the key belongs in JWKS at `now`. */
export function isPublished(record: SigningKeyRecord, now: number): boolean {
  if (record.state === 'next' || record.state === 'active') return true;
  if (record.state === 'retired') return record.expiresAt === null || record.expiresAt.getTime() > now;
  return false;
}

/**
 * Holds the decrypted active key and the published public keys. `reload()` re-reads the table;
 * keys/propagation.ts calls it on every KeyChangeSignal and on a timer. The private key is
 * decrypted once per change of the active key.
 */
export class KeyRing {
  private snapshot: KeySnapshot | undefined;
  private readonly privateCache = new Map<string, CryptoKey>();
  private readonly publicCache = new Map<string, CryptoKey>();
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: KeyRingOptions) {}

  /** Creates the first active + next keys if the table is empty (database-locked), then loads. */
  async initialise(): Promise<boolean> {
    const { store, kek, signingAlg, now } = this.options;
    const created = await store.ensureInitial(async () => {
      const at = new Date(now());
      return Promise.all([
        generateSigningKey(signingAlg, kek, 'active', { createdAt: at, activatedAt: at }),
        generateSigningKey(signingAlg, kek, 'next', { createdAt: at }),
      ]);
    });
    await this.reload();
    return created;
  }

  /**
   * Re-reads the key table and swaps the snapshot. Calls are serialised: a slow reload that read
   * the table before a rotation can never overwrite the snapshot of a later one.
   */
  reload(): Promise<KeySnapshot> {
    const run = this.reloading.then(() => this.load());
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<KeySnapshot> {
    const records = await this.options.store.list();
    const now = this.options.now();
    const active = records.find((r) => r.state === 'active');
    if (!active) throw new Error('no active signing key in the database');
    let signingKey = this.privateCache.get(active.kid);
    if (!signingKey) {
      signingKey = await importPrivateKey(active, this.options.kek);
      this.privateCache.clear();
      this.privateCache.set(active.kid, signingKey);
    }
    const published = records.filter((r) => isPublished(r, now));
    const verificationKeys = new Map<string, VerificationKey>();
    for (const r of published) {
      let key = this.publicCache.get(r.kid);
      if (!key) {
        key = await importPublicKey(r);
        this.publicCache.set(r.kid, key);
      }
      verificationKeys.set(r.kid, { kid: r.kid, alg: r.alg, key });
    }
    // A key that left JWKS never verifies again; drop it from the cache too.
    for (const kid of this.publicCache.keys()) if (!verificationKeys.has(kid)) this.publicCache.delete(kid);
    // Stable order (active, next, retired by age) so the ETag only changes when the set does.
    const order = { active: 0, next: 1, retired: 2, revoked: 3 } as const;
    const jwksKeys = [...published]
      .sort((a, b) => order[a.state] - order[b.state] || b.createdAt.getTime() - a.createdAt.getTime())
      .map((r) => r.publicJwk);
    const body = JSON.stringify({ keys: jwksKeys });
    const etag = strongEtag(body);
    this.snapshot = {
      signer: { kid: active.kid, alg: active.alg, key: signingKey },
      verificationKeys,
      algorithms: [...new Set(published.map((r) => r.alg))],
      jwks: { body, etag },
      records,
    };
    return this.snapshot;
  }

  current(): KeySnapshot {
    if (!this.snapshot) throw new Error('KeyRing used before initialise()');
    return this.snapshot;
  }
}
