import type { SigningAlg } from '../config.js';
import type { EventBus } from '../events.js';
import { auditRows } from '../facts/audit_rows.js';
import type { KeyFact } from '../facts/facts.js';
import type { FactPublisher } from '../facts/publisher.js';
import { emitSignal } from '../facts/publisher.js';
import type { AuditStamp, KeyTransition, SigningKeyRecord, SigningKeyStore } from '../stores/types.js';
import { generateSigningKey, openPrivateJwk, sealPrivateJwk } from './key_material.js';
import type { KeyRing } from './keyring.js';
import type { KeyChangeSignal } from './signal.js';

/**
 * The signing-key lifecycle (docs/keys.md): next → active → retired → removed, plus revoked. Every
 * change is one transaction under the key-table lock (SigningKeyStore.transition), then the local
 * key ring reloads and every other instance is signalled.
 */

export type KeyLifecycleErrorCode = 'rotation_refused' | 'unknown_key' | 'rewrap_failed';

/** Expected refusals with a stable code and a reason fit for an operator (CLI stderr, API 409/404). */
export class KeyLifecycleError extends Error {
  constructor(
    readonly code: KeyLifecycleErrorCode,
    message: string,
    /** A refusal that `force` overrides: each surface names its own way to force (--force, {"force": true}). */
    readonly forceable = false,
  ) {
    super(message);
    this.name = 'KeyLifecycleError';
  }
}

/** Retired keys outlive the last token they signed by this much, for clock skew between servers. */
export const RETIREMENT_LEEWAY_S = 1;

/** What `keys list` and GET /admin/keys show: never private material (openapi.yaml KeyInfo). */
export interface KeyInfo {
  kid: string;
  alg: string;
  state: SigningKeyRecord['state'];
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
  expires_at: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function describeKey(k: SigningKeyRecord): KeyInfo {
  return {
    kid: k.kid,
    alg: k.alg,
    state: k.state,
    created_at: k.createdAt.toISOString(),
    activated_at: iso(k.activatedAt),
    retired_at: iso(k.retiredAt),
    expires_at: iso(k.expiresAt),
  };
}

export interface KeyLifecycleDeps {
  store: SigningKeyStore;
  keys: KeyRing;
  kek: Uint8Array;
  signal: KeyChangeSignal;
  /** Operational signals only (keys reloaded, Redis degraded); key facts go to the publisher. */
  events: EventBus;
  publisher: Pick<FactPublisher, 'published'>;
  now: () => number;
  settings: {
    signingAlg: SigningAlg;
    /** JWKS Cache-Control max-age: a next key must have been published this long before it signs. */
    jwksMaxAge: number;
    /** Stale instances may keep signing with the old key for up to this long (fallback reload). */
    keyReloadInterval: number;
    accessTokenTtl: number;
  };
  /** The longest client-level access-token TTL override, if any. */
  maxClientAccessTokenTtl: () => Promise<number>;
}

export interface RotateOptions {
  force?: boolean;
  /** Scheduled rotation: only if the active key has been active this long (re-checked under the lock). */
  ifActiveOlderThan?: number;
  /** Who rotates: the `key.rotated` audit event is written in the rotation's transaction. */
  audit?: AuditStamp;
}

export class KeyLifecycle {
  constructor(private readonly deps: KeyLifecycleDeps) {}

  async list(): Promise<KeyInfo[]> {
    return (await this.deps.store.list()).map(describeKey);
  }

  /**
   * Promotes next, retires active, creates a new next with the current SIGNING_ALG. Throws
   * `rotation_refused` while next is too fresh (unless forced). Returns null when a scheduled
   * rotation found nothing due (another instance rotated first).
   */
  async rotate(options: RotateOptions = {}): Promise<KeyInfo[] | null> {
    const hold = await this.retirementHold();
    let rotated: KeyFact | undefined;
    const after = await this.deps.store.transition(async (keys) => {
      const at = this.deps.now();
      const active = keys.find((k) => k.state === 'active');
      if (options.ifActiveOlderThan !== undefined && active?.activatedAt) {
        if (at - active.activatedAt.getTime() < options.ifActiveOlderThan * 1000) return null;
      }
      const next = keys.find((k) => k.state === 'next');
      if (!next) throw new KeyLifecycleError('rotation_refused', 'there is no next key to promote');
      const refusal = this.tooFresh(next, at);
      if (refusal && !options.force) {
        if (options.ifActiveOlderThan !== undefined) return null;
        throw new KeyLifecycleError('rotation_refused', refusal, true);
      }
      const newNext = await this.newNextKey(at);
      rotated = {
        type: 'key.rotated',
        kid: next.kid,
        previousKid: active?.kid ?? '',
        nextKid: newNext.kid,
        forced: options.force === true,
      };
      return {
        at: new Date(at),
        promote: true,
        retiredExpiresAt: new Date(at + hold),
        newNext,
        audit: auditRows(options.audit, new Date(at), [rotated]),
      };
    });
    if (!after || !rotated) return null;
    await this.deps.publisher.published([rotated]);
    await this.propagate('rotation');
    return after.map(describeKey);
  }

  /**
   * Emergency revoke: the key leaves JWKS at once, so every token it signed fails verification.
   * Revoking the active key force-promotes next in the same transaction; revoking next replaces
   * it (the replacement waits the usual max-age before it may sign). Revoking twice is a no-op.
   */
  async revoke(kid: string, audit?: AuditStamp): Promise<KeyInfo[]> {
    const hold = await this.retirementHold();
    let revoked: KeyFact | undefined;
    const after = await this.deps.store.transition(async (keys) => {
      const target = keys.find((k) => k.kid === kid);
      if (!target) throw new KeyLifecycleError('unknown_key', 'no key with this kid');
      if (target.state === 'revoked') return null;
      const at = this.deps.now();
      revoked = { type: 'key.revoked', kid, previousState: target.state };
      const change: KeyTransition = {
        at: new Date(at),
        revokeKid: kid,
        promote: false,
        retiredExpiresAt: new Date(at + hold),
        audit: auditRows(audit, new Date(at), [revoked]),
      };
      if (target.state === 'active') {
        change.promote = true;
        change.newNext = await this.newNextKey(at);
      } else if (target.state === 'next') {
        change.newNext = await this.newNextKey(at);
      }
      return change;
    });
    if (revoked) {
      await this.deps.publisher.published([revoked]);
      await this.propagate('revocation');
    }
    return (after ?? (await this.deps.store.list())).map(describeKey);
  }

  private tooFresh(next: SigningKeyRecord, at: number): string | undefined {
    const publishedFor = Math.floor((at - next.createdAt.getTime()) / 1000);
    // docs/keys.md: "a next key is promoted only after it has been published for longer than the JWKS
    // max-age", so every cached JWKS a resource server holds already contains it.
    if (publishedFor >= this.deps.settings.jwksMaxAge) return undefined;
    return `next key published ${publishedFor} s ago; it may sign after ${this.deps.settings.jwksMaxAge} s`;
  }

  private newNextKey(at: number): Promise<SigningKeyRecord> {
    return generateSigningKey(this.deps.settings.signingAlg, this.deps.kek, 'next', {
      createdAt: new Date(at),
    });
  }

  /**
   * How long (ms) a retiring key stays in JWKS: the longest access-token lifetime (config or any
   * client override), plus the reload interval (an instance that missed the signal keeps signing
   * with the old key until its next reload), plus a leeway for clock skew. Read before the
   * transaction: on PGlite a query outside it would wait for the one connection it holds.
   */
  private async retirementHold(): Promise<number> {
    const { accessTokenTtl, keyReloadInterval } = this.deps.settings;
    const ttl = Math.max(accessTokenTtl, await this.deps.maxClientAccessTokenTtl());
    return (ttl + keyReloadInterval + RETIREMENT_LEEWAY_S) * 1000;
  }

  /** Reload here at once (the caller's next token uses the new key), then tell everyone else. */
  private async propagate(reason: string): Promise<void> {
    const { signer } = await this.deps.keys.reload();
    emitSignal(this.deps.events, 'keys.reloaded', { activeKid: signer.kid, reason });
    try {
      await this.deps.signal.publish();
    } catch (err) {
      // Not fatal: other instances pick the change up at their next periodic reload.
      emitSignal(this.deps.events, 'dependency.degraded', { dependency: 'redis', err });
    }
  }
}

/**
 * KEK rotation: re-encrypts every private key from `previous` to `current` in one transaction.
 * Rows already under `current` are left alone, so running it twice is harmless; a row that opens
 * under neither aborts the whole transaction.
 */
export async function rewrapKeys(
  store: SigningKeyStore,
  current: Uint8Array,
  previous: Uint8Array | undefined,
): Promise<{ rewrapped: number; total: number }> {
  let total = 0;
  const rewrapped = await store.rewrap(async (key) => {
    total++;
    try {
      await openPrivateJwk(key, current);
      return null;
    } catch {
      // Not under the current KEK: it must open under the previous one.
    }
    if (!previous) {
      throw new KeyLifecycleError(
        'rewrap_failed',
        `key ${key.kid} is not encrypted under KEY_ENCRYPTION_KEY and KEY_ENCRYPTION_KEY_PREVIOUS is not set`,
      );
    }
    let jwk: Awaited<ReturnType<typeof openPrivateJwk>>;
    try {
      jwk = await openPrivateJwk(key, previous);
    } catch {
      throw new KeyLifecycleError(
        'rewrap_failed',
        `key ${key.kid} opens under neither KEY_ENCRYPTION_KEY nor KEY_ENCRYPTION_KEY_PREVIOUS; nothing was changed`,
      );
    }
    return sealPrivateJwk(jwk, key.kid, current);
  });
  return { rewrapped, total };
}
