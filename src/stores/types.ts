import type { SecurityFact } from '../facts/facts.js';
/**
 * Narrow storage interfaces with domain verbs. Implementations are chosen once in the composition
 * root (src/compose.ts): Postgres via knex (real or PGlite), Redis or in-process memory.
 */

export const GRANT_TYPES = ['authorization_code', 'password', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export interface UserRecord {
  id: string;
  username: string;
  passwordHash: string;
  roles: string[];
  passwordChangedAt: Date;
  disabledAt: Date | null;
  createdAt: Date;
}

/**
 * Who made the client: an admin (`first_party`), RFC 7591 dynamic registration (`dynamic`), or
 * a Client ID Metadata Document fetched at use (`metadata_document`, never stored). Third-party
 * kinds get the limits and the consent page of docs/mcp.md.
 */
export type ClientKind = 'first_party' | 'dynamic' | 'metadata_document';

export interface ClientRecord {
  id: string;
  name: string;
  kind: ClientKind;
  /** SHA-256 of the secret, base64url; null for public clients. */
  secretHash: string | null;
  grantTypes: GrantType[];
  scopes: string[];
  /**
   * The audiences of its tokens. For a client registered without any this is [ISSUER as
   * configured now] (`audienceIsDefault`), never the ISSUER of the day it was created.
   */
  audiences: string[];
  /** Registered without --audience: its audience follows the ISSUER (docs/security.md). */
  audienceIsDefault: boolean;
  canIntrospect: boolean;
  isAdmin: boolean;
  accessTokenTtl: number | null;
  refreshTokenIdleTtl: number | null;
  refreshTokenMaxAge: number | null;
  refreshReuseLeeway: number | null;
  /** RFC 6749 §3.1.2: the exact redirect URIs of the authorization code flow. */
  redirectUris: string[];
  /** Web origins (scheme://host[:port]) answered with CORS credentials on /token, /revoke, /logout. */
  allowedOrigins: string[];
  /** Cookie mode: the refresh token travels only in an HttpOnly cookie (docs/browser-apps.md). */
  refreshCookie: boolean;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request must carry a DPoP proof. */
  dpopBoundAccessTokens: boolean;
  disabledAt: Date | null;
  createdAt: Date;
}

export type NewUser = Pick<UserRecord, 'id' | 'username' | 'passwordHash' | 'roles'>;
export type NewClient = Omit<ClientRecord, 'disabledAt' | 'createdAt' | 'kind'> & { kind?: ClientKind };
/** The fields an admin may change on a registered client (never its id or secret). */
export type ClientChanges = Partial<
  Pick<
    ClientRecord,
    | 'name'
    | 'grantTypes'
    | 'scopes'
    | 'audiences'
    | 'redirectUris'
    | 'allowedOrigins'
    | 'refreshCookie'
    | 'dpopBoundAccessTokens'
  >
>;

/** Keyset pagination in creation order: the page after the record with this creation time and id. */
export interface PageQuery {
  limit: number;
  after?: { createdAt: Date; id: string };
}

export interface UserStore {
  create(user: NewUser): Promise<UserRecord>;
  findByUsername(username: string): Promise<UserRecord | undefined>;
  findById(id: string): Promise<UserRecord | undefined>;
  /** Returns false if no such user. */
  disable(id: string, at: Date): Promise<boolean>;
  setPasswordHash(id: string, passwordHash: string, at: Date): Promise<boolean>;
  count(): Promise<number>;
  /** Oldest first. */
  page(query: PageQuery): Promise<UserRecord[]>;
}

export interface ClientStore {
  create(client: NewClient): Promise<ClientRecord>;
  findById(id: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** Oldest first. */
  page(query: PageQuery): Promise<ClientRecord[]>;
  disable(id: string, at: Date): Promise<boolean>;
  /** Returns the changed record, or undefined if no such client. */
  update(id: string, changes: ClientChanges): Promise<ClientRecord | undefined>;
  /** Replaces the secret digest; false if no such client. */
  setSecretHash(id: string, secretHash: string): Promise<boolean>;
  count(): Promise<number>;
}

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

export type RevocationKind = 'jti' | 'sid';

export interface Revocation {
  kind: RevocationKind;
  value: string;
  /** When the blocked token (or the last token of the blocked session) expires. */
  expiresAt: Date;
  reason?: string;
}

/** The durable record of revocations (Postgres). */
export interface RevocationStore {
  record(entries: Revocation[], at: Date): Promise<void>;
  /** Every revocation still in force at `now`, for rebuilding a cache. */
  listLive(now: Date): Promise<Revocation[]>;
  /** True if any of the values is revoked and still in force. */
  anyRevoked(keys: { kind: RevocationKind; value: string }[], now: Date): Promise<boolean>;
  purgeExpired(now: Date, batch: number): Promise<number>;
}

/**
 * The fast check every token verification makes. `add` records a new revocation: durable record
 * first (RevocationStore), then the cache, so an acknowledged revocation is never lost. `cache`
 * takes revocations a store transaction already recorded durably (a session's end): only the
 * fast copy is written, so the durable row (and its NOTIFY) is written once.
 */
export interface Denylist {
  add(entries: Revocation[]): Promise<void>;
  cache(entries: Revocation[]): Promise<void>;
  /** One round trip for both keys. */
  isRevoked(jti: string, sid: string | undefined): Promise<boolean>;
  close?(): Promise<void>;
}

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

/** What ending a family needs beyond its id: why, when, and how long its access tokens may live. */
export interface FamilyRevocation {
  reason: string;
  at: Date;
  /** Server default access-token TTL (s); a client's own override is read by the store. */
  accessTokenTtl: number;
  /** Who ended them: one `session.ended` audit event per family, in the revoking transaction. */
  audit?: AuditStamp;
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
  /** Used when reuse revokes the family. */
  accessTokenTtl: number;
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
 * family's row lock, so rotation, reuse revocation and /revoke of one family are serialised.
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
    limits: { maxLiveFamilies: number; evict: FamilyRevocation; facts?: SecurityFact[] },
  ): Promise<RevokedFamilies>;
  /** Spends the presented token and inserts its child, or detects reuse and revokes the family. */
  rotate(input: RotateInput): Promise<RotateOutcome>;
  /** The token and its family by digest, without any lock (store contract tests, diagnostics). */
  findByHash(hash: string): Promise<{ token: RefreshTokenRecord; family: RefreshFamily } | undefined>;
  findFamily(id: string): Promise<RefreshFamily | undefined>;
  /** The user's live families (not revoked, not expired at `now`), newest first, with last use. */
  listLiveFamilies(userId: string, now: Date): Promise<(RefreshFamily & { lastUsedAt: Date })[]>;
  /** /revoke: only the owning client's token revokes its family (`token.revoked` audited with it). */
  revokeByHash(hash: string, clientId: string, revocation: FamilyRevocation): Promise<RevokeByTokenOutcome>;
  revokeFamily(id: string, revocation: FamilyRevocation): Promise<RevokedFamilies>;
  /**
   * DELETE /admin/sessions/{sid}: a family with the login session it came from, or a login
   * session by its id, in one transaction. Undefined when neither ever existed.
   */
  endSession(id: string, revocation: FamilyRevocation): Promise<EndedSessions | undefined>;
  /**
   * Ends everything the user is signed in with, in one transaction: every live family, every
   * login session of /authorize, every pending authorization code (docs/sessions.md).
   */
  revokeUserSessions(userId: string, revocation: FamilyRevocation): Promise<EndedSessions>;
  /** Stores the narrowed scope and audience a family keeps after its client lost some (bounds). */
  narrowFamily(id: string, scope: string, audience: string[]): Promise<void>;
  revokeClientFamilies(clientId: string, revocation: FamilyRevocation): Promise<RevokedFamilies>;
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

/** Audit event types (docs/audit.md). A closed list, so filters and metrics stay bounded. */
export const AUDIT_EVENT_TYPES = [
  'login.succeeded',
  'login.failed',
  'login.locked',
  'refresh.reuse_detected',
  'token.revoked',
  'session.ended',
  'user.created',
  'user.disabled',
  'user.password_changed',
  'client.created',
  'client.updated',
  'client.disabled',
  'client.secret_rotated',
  'key.rotated',
  'key.revoked',
  'key.rewrapped',
  'admin.refused',
  'client.registered',
  'client.registration_updated',
  'client.registration_deleted',
  'consent.granted',
  'consent.denied',
  'consent.revoked',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Who did it, from where, in which request: the part of an audit event every change shares. */
export interface AuditStamp {
  /** Admin client id, `cli`, `system`, or the OAuth client that made the request. */
  actor: string;
  ip: string | null;
  requestId: string | null;
}

/** What an event is about. `username` is looked up from `userId` when only the id is known. */
export interface AuditSubject {
  username?: string | null;
  userId?: string | null;
  clientId?: string | null;
  sessionId?: string | null;
  kid?: string | null;
}

export type AuditDetail = Record<string, string | number | boolean | string[]>;

/** One audit trail entry. Never holds a password, secret or token. */
export interface AuditEvent extends AuditStamp, AuditSubject {
  type: AuditEventType;
  at: Date;
  detail: AuditDetail;
}

export interface StoredAuditEvent extends AuditEvent {
  id: string;
}

export interface AuditQuery {
  type?: AuditEventType;
  username?: string;
  clientId?: string;
  since?: Date;
  until?: Date;
  /** Events older than this id (the cursor of the previous page). */
  beforeId?: string;
  limit: number;
}

/** The audit trail (Postgres). Writes that belong to a change ride in that change's transaction. */
export interface AuditStore {
  record(events: AuditEvent[]): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<StoredAuditEvent[]>;
  /** Deletes up to `batch` events older than `cutoff`. */
  purge(cutoff: Date, batch: number): Promise<number>;
}

/** An authorization code (RFC 6749 §4.1.2); the code itself is never stored, only its digest. */
export interface AuthorizationCodeRecord {
  clientId: string;
  userId: string;
  redirectUri: string;
  /** RFC 7636 S256 challenge the code_verifier must match. */
  codeChallenge: string;
  scope: string;
  audience: string[];
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  /** The session (refresh family) the redemption started; revoked if the code is presented again. */
  familyId: string | null;
  /** The login session of /authorize that issued the code; its family records it too. */
  loginSessionId: string | null;
  /** RFC 9449 §10 `dpop_jkt`: only a proof by the key with this thumbprint redeems the code. */
  dpopJkt: string | null;
}

export type NewAuthorizationCode = Omit<
  AuthorizationCodeRecord,
  'usedAt' | 'familyId' | 'loginSessionId' | 'dpopJkt'
> & {
  hash: string;
  loginSessionId?: string | null;
  dpopJkt?: string | null;
};

/** Outcome of redeeming a code: it is spent by this call, or it was spent before (a replay). */
export type RedeemOutcome =
  | { kind: 'redeemed'; code: AuthorizationCodeRecord }
  | { kind: 'replayed'; code: AuthorizationCodeRecord }
  | { kind: 'not_found' };

/** Single-use authorization codes (Postgres, shared by every instance). */
export interface AuthorizationCodeStore {
  create(code: NewAuthorizationCode): Promise<void>;
  findByHash(hash: string): Promise<AuthorizationCodeRecord | undefined>;
  /**
   * One conditional write: marks the code used and names the family it will start. A code already
   * used is not changed but marked replayed, and returned with the family it started.
   */
  redeem(hash: string, familyId: string, at: Date): Promise<RedeemOutcome>;
  /** True when a replay of this code arrived (read by the winner after its session exists). */
  wasReplayed(hash: string): Promise<boolean>;
  /** Deletes up to `batch` codes that expired before `cutoff`. */
  purge(cutoff: Date, batch: number): Promise<number>;
}

/** A browser login at /authorize; the cookie value is never stored, only its digest. */
export interface LoginSessionRecord {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface LoginSessionStore {
  create(session: LoginSessionRecord & { hash: string }): Promise<void>;
  findByHash(hash: string): Promise<LoginSessionRecord | undefined>;
  /** The user's login sessions still alive at `now`, newest first (the session lists). */
  listLive(userId: string, now: Date): Promise<LoginSessionRecord[]>;
  deleteByHash(hash: string): Promise<void>;
  /** Deletes up to `batch` sessions that expired before `cutoff`. */
  purge(cutoff: Date, batch: number): Promise<number>;
}
