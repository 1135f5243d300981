import type { SecurityFact } from '../../facts/facts.js';
import type { UserRecord } from './accounts.js';
import type { AuditStamp } from './audit.js';
import type { Revocation } from './revocations.js';

/** Refresh families and tokens (docs/sessions.md). */

/** One login: the `sid` of every access token it yields. Absolute expiry is fixed at creation. */
export interface RefreshFamily {
  id: string;
  userId: string;
  clientId: string;
  scope: string;
  audience: string[];
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
  /** The login session of /authorize whose code started this family (ended with it by an admin). */
  loginSessionId: string | null;
  /** RFC 9449 §5: the key thumbprint its refresh tokens are bound to (public clients using DPoP). */
  dpopJkt: string | null;
}

/** A refresh token row; the token itself is never stored, only its SHA-256 digest. */
export interface RefreshTokenRecord {
  id: string;
  familyId: string;
  parentId: string | null;
  clientId: string;
  createdAt: Date;
  /** Idle expiry of this token, never later than its family's expiry. */
  expiresAt: Date;
  spentAt: Date | null;
}

export interface NewRefreshToken {
  id: string;
  hash: string;
  /** now + idle TTL; the store caps it at the family's absolute expiry. */
  idleExpiresAt: Date;
}

/**
 * Why sessions end and who ended them: one `session.ended` audit event per session, stamped with
 * `audit`, in the ending transaction (no stamp, no audit row). `at` is the store's clock unless the
 * caller names the moment (the store contract tests do).
 */
export interface SessionEnding {
  reason: string;
  audit?: AuditStamp;
  at?: Date;
}

/** Families ended by one call, with the `sid` denylist entries already recorded durably. */
export interface RevokedFamilies {
  familyIds: string[];
  revocations: Revocation[];
  /** What the transaction established and audited, in order: for the publisher after commit. */
  facts: SecurityFact[];
}

/** Everything one "end sessions" call ended: families, login sessions of /authorize, pending codes. */
export interface EndedSessions extends RevokedFamilies {
  loginSessionIds: string[];
  /** Unredeemed authorization codes of the user, deleted so none can start a session later. */
  pendingCodes: number;
}

export interface RotateInput {
  hash: string;
  clientId: string;
  child: NewRefreshToken;
  /** Seconds after a token is spent during which its owner may present it again. */
  leeway: number;
  now: Date;
  /** Reuse writes `refresh.reuse_detected` and `session.ended` with this stamp, in its transaction. */
  audit?: AuditStamp;
  /**
   * Runs under the family lock once the token is known to be the client's, before anything is
   * spent or revoked; a throw rolls the transaction back and leaves the token as it was (the
   * refresh grant checks scope and audience here, so a bad request does not cost the token).
   */
  check?(family: RefreshFamily): void;
  /** The DPoP key of this request; a family bound to another key (or none) is `wrong_key`. */
  dpopJkt?: string;
}

/**
 * Outcome of one rotation. Failures are values, not throws, so a reuse revocation commits in the
 * same transaction that detected it.
 */
export type RotateOutcome =
  /** `user`: the family's owner, when the store read it in the same round trip. */
  | { kind: 'rotated' | 'leeway'; family: RefreshFamily; user?: UserRecord }
  | { kind: 'reuse'; family: RefreshFamily; revoked: RevokedFamilies }
  | { kind: 'not_found' | 'wrong_client' }
  | { kind: 'revoked' | 'expired' | 'wrong_key'; family: RefreshFamily };

export type RevokeByTokenOutcome =
  | { kind: 'revoked'; family: RefreshFamily; revoked: RevokedFamilies }
  | { kind: 'not_found' }
  | { kind: 'wrong_client' };

/**
 * Refresh families and their tokens (Postgres). Every verb that changes a family first takes that
 * family's row lock, so rotation, reuse revocation and /revoke of one family are serialised. The
 * store owns how a session ends (docs/sessions.md): its `sid` is denylisted durably for as long as
 * its access tokens live, the end is audited in the same transaction, a lost lock race is retried
 * once, and after commit what it established goes to the publisher (src/facts/publisher.ts).
 */
export interface RefreshTokenStore {
  /**
   * Creates a family with its first token. Holds the user's row lock so that concurrent logins
   * count live families correctly; the oldest live families beyond `maxLiveFamilies - 1` are
   * revoked (reason in `evict`, audited) in the same transaction.
   */
  createFamily(
    family: Omit<RefreshFamily, 'revokedAt' | 'revokedReason' | 'loginSessionId' | 'dpopJkt'> & {
      loginSessionId?: string | null;
      dpopJkt?: string | null;
    },
    token: NewRefreshToken,
    limits: { maxLiveFamilies: number; evict: SessionEnding; facts?: SecurityFact[] },
  ): Promise<RevokedFamilies>;
  /** Spends the presented token and inserts its child, or detects reuse and revokes the family. */
  rotate(input: RotateInput): Promise<RotateOutcome>;
  /** The token and its family by digest, without any lock (store contract tests, diagnostics). */
  findByHash(hash: string): Promise<{ token: RefreshTokenRecord; family: RefreshFamily } | undefined>;
  findFamily(id: string): Promise<RefreshFamily | undefined>;
  /** The user's live families (not revoked, not expired at `now`), newest first, with last use. */
  listLiveFamilies(userId: string, now: Date): Promise<(RefreshFamily & { lastUsedAt: Date })[]>;
  /** /revoke: only the owning client's token revokes its family (`token.revoked` audited with it). */
  revokeByHash(hash: string, clientId: string, ending: SessionEnding): Promise<RevokeByTokenOutcome>;
  revokeFamily(id: string, ending: SessionEnding): Promise<RevokedFamilies>;
  /**
   * DELETE /admin/sessions/{sid}: a family with the login session it came from, or a login
   * session by its id, in one transaction. Undefined when neither ever existed.
   */
  endSession(id: string, ending: SessionEnding): Promise<EndedSessions | undefined>;
  /**
   * Ends everything the user is signed in with, in one transaction: every live family, every
   * login session of /authorize, every pending authorization code (docs/sessions.md).
   */
  revokeUserSessions(userId: string, ending: SessionEnding): Promise<EndedSessions>;
  /** Stores the narrowed scope and audience a family keeps after its client lost some (bounds). */
  narrowFamily(id: string, scope: string, audience: string[]): Promise<void>;
  revokeClientFamilies(clientId: string, ending: SessionEnding): Promise<RevokedFamilies>;
  /** Deletes (with their tokens) up to `batch` families that expired or were revoked before `cutoff`. */
  purge(cutoff: Date, batch: number): Promise<number>;
}

/** What introspection needs to know about a refresh token; only live tokens are returned. */
export interface RefreshTokenView {
  /** The refresh token row id, answered as `jti`. */
  tokenId: string;
  clientId: string;
  userId: string;
  username: string;
  scope: string;
  familyId: string;
  aud: string | string[];
  iat: Date;
  /** The earlier of the token's idle expiry and its family's absolute expiry. */
  exp: Date;
}

/**
 * Read-only view of refresh tokens by digest: undefined unless the token is unspent, unexpired,
 * and its family (session) is neither revoked nor past its absolute expiry.
 */
export interface RefreshTokenInspector {
  inspect(tokenHash: string, now: Date): Promise<RefreshTokenView | undefined>;
}
