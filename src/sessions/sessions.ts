import { randomUUID } from 'node:crypto';
import { StoreError } from '../errors.js';
import type { LoginSucceeded, SessionKind } from '../facts/facts.js';
import type { FactPublisher } from '../facts/publisher.js';
import type {
  AuditStamp,
  ClientRecord,
  EndedSessions,
  FamilyRevocation,
  LoginSessionStore,
  RefreshFamily,
  RefreshTokenStore,
  RevokedFamilies,
  RotateOutcome,
  UserRecord,
} from '../stores/types.js';
import { randomToken, sha256 } from '../tokens/secrets.js';
import type { SessionBounds } from './bounds.js';

/** The lifetimes this module reads (seconds); per-client overrides win over these. */
export interface SessionSettings {
  accessTokenTtl: number;
  refreshTokenIdleTtl: number;
  refreshTokenMaxAge: number;
  refreshReuseLeeway: number;
  maxSessionsPerUser: number;
}

export interface SessionDeps {
  refreshTokens: RefreshTokenStore;
  /** Read for the session lists; login sessions are ended by the refresh store's transactions. */
  loginSessions: Pick<LoginSessionStore, 'listLive'>;
  /** After commit: the facts the store wrote go to events, metrics, logs and the denylist cache. */
  publisher: Pick<FactPublisher, 'published'>;
  settings: SessionSettings;
  now: () => number;
}

export interface NewSession {
  userId: string;
  client: ClientRecord;
  scope: string;
  audience: string[];
  /** Who started the session: the stamp of the audit rows of the sessions its start evicts. */
  stamp?: AuditStamp;
  /** The family id, when the caller had to name it first (an authorization code records it). */
  sid?: string;
  /** The login session of /authorize whose code starts this family. */
  loginSessionId?: string | null;
  /** RFC 9449 §5: bind the family's refresh tokens to this DPoP key (src/dpop/binding.ts). */
  dpopJkt?: string;
  /** The sign-in that starts the session: audited in its transaction, with the family as `sessionId`. */
  login?: LoginSucceeded;
}

/** One line of a session list (`sessions list`, GET /admin/users/{id}/sessions). */
export interface SessionView {
  kind: SessionKind;
  id: string;
  /** Refresh families belong to a client; a login session of /authorize to the browser. */
  clientId: string | null;
  scope: string | null;
  audience: string[] | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date;
}

/** The wire shape of a session list entry, the same in the admin API and the CLI. */
export const describeSession = (v: SessionView) => ({
  kind: v.kind,
  session_id: v.id,
  client_id: v.clientId,
  scope: v.scope,
  audience: v.audience,
  created_at: v.createdAt.toISOString(),
  last_used_at: v.lastUsedAt?.toISOString() ?? null,
  expires_at: v.expiresAt.toISOString(),
});

export type RefreshResult =
  /** `user`: the family's owner when the store read it in the same round trip. */
  | { ok: true; family: RefreshFamily; refreshToken: string; user?: UserRecord }
  | { ok: false; reason: Exclude<RotateOutcome['kind'], 'rotated' | 'leeway'> | 'conflict' };

/** What ending all of a user's sessions ended (users disable / set-password, sessions revoke). */
export interface UserSessionsEnded {
  familyIds: string[];
  loginSessionIds: string[];
  pendingCodes: number;
}

/** Refresh tokens are 43 base64url characters; anything else cannot be one of ours. */
const REFRESH_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
export const looksLikeRefreshToken = (value: string) => REFRESH_TOKEN_SHAPE.test(value);

/**
 * A lost lock race (deadlock between a login's eviction and a bulk revocation of the same user, say)
 * is retried once: the second attempt runs after the winner committed and sees its result.
 */
async function retryConflictOnce<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof StoreError && err.code === 'conflict')) throw err;
    return work();
  }
}

/**
 * Sessions = refresh families. Business rules live here (lifetimes, leeway, cap, denylisting and
 * events); the store does the locking and the atomic writes.
 */
export class Sessions {
  constructor(private readonly deps: SessionDeps) {}

  private familyRevocation(reason: string, audit?: AuditStamp): FamilyRevocation {
    return {
      reason,
      at: new Date(this.deps.now()),
      accessTokenTtl: this.deps.settings.accessTokenTtl,
      audit,
    };
  }

  private newToken(client: ClientRecord) {
    const value = randomToken(32);
    const idle = client.refreshTokenIdleTtl ?? this.deps.settings.refreshTokenIdleTtl;
    return {
      value,
      record: {
        id: randomUUID(),
        hash: sha256(value),
        idleExpiresAt: new Date(this.deps.now() + idle * 1000),
      },
    };
  }

  /**
   * After the store committed: its facts to the publisher, and the sids it revoked to the denylist
   * cache only (the durable record was written in the same transaction).
   */
  private async publishRevoked(revoked: RevokedFamilies): Promise<string[]> {
    await this.deps.publisher.published(revoked.facts, revoked.revocations);
    return revoked.familyIds;
  }

  /** One login: a new family (its id is the `sid`) and its first refresh token. */
  async start(input: NewSession): Promise<{ sid: string; refreshToken: string }> {
    const now = this.deps.now();
    const maxAge = input.client.refreshTokenMaxAge ?? this.deps.settings.refreshTokenMaxAge;
    const family = {
      id: input.sid ?? randomUUID(),
      userId: input.userId,
      clientId: input.client.id,
      scope: input.scope,
      audience: input.audience,
      createdAt: new Date(now),
      expiresAt: new Date(now + maxAge * 1000),
      loginSessionId: input.loginSessionId ?? null,
      dpopJkt: input.dpopJkt ?? null,
    };
    const token = this.newToken(input.client);
    const limits = {
      maxLiveFamilies: this.deps.settings.maxSessionsPerUser,
      evict: this.familyRevocation('session_limit', input.stamp),
      facts: input.login ? [{ ...input.login, sessionId: family.id }] : [],
    };
    const evicted = await retryConflictOnce(() =>
      this.deps.refreshTokens.createFamily(family, token.record, limits),
    );
    await this.publishRevoked(evicted);
    return { sid: family.id, refreshToken: token.value };
  }

  /**
   * RFC 6749 §6 with rotation, reuse detection and the leeway (docs/sessions.md), in one store
   * transaction. `check` sees the locked family before anything is spent and may throw to refuse;
   * without one, a clean rotation takes the store's one-statement path. A reuse is audited with `audit` in its revoking transaction.
   */
  async refresh(
    client: ClientRecord,
    presented: string,
    audit?: AuditStamp,
    check?: (family: RefreshFamily) => void,
    dpopJkt?: string,
  ): Promise<RefreshResult> {
    if (!looksLikeRefreshToken(presented)) return { ok: false, reason: 'not_found' };
    const token = this.newToken(client);
    let outcome: RotateOutcome;
    try {
      outcome = await this.deps.refreshTokens.rotate({
        hash: sha256(presented),
        clientId: client.id,
        child: token.record,
        leeway: client.refreshReuseLeeway ?? this.deps.settings.refreshReuseLeeway,
        now: new Date(this.deps.now()),
        accessTokenTtl: this.deps.settings.accessTokenTtl,
        audit,
        check,
        dpopJkt,
      });
    } catch (err) {
      // The refresh flow's mapping (RFC 6749 §5.2): a transaction that lost a race to a concurrent
      // use of the same token is a loser, answered invalid_grant; an outage stays a 503.
      if (err instanceof StoreError && (err.code === 'conflict' || err.code === 'exists'))
        return { ok: false, reason: 'conflict' };
      throw err;
    }
    switch (outcome.kind) {
      case 'rotated':
        await this.deps.publisher.published([
          { type: 'refresh.rotated', clientId: client.id, familyId: outcome.family.id },
        ]);
        return {
          ok: true,
          family: outcome.family,
          refreshToken: token.value,
          ...(outcome.user ? { user: outcome.user } : {}),
        };
      case 'leeway':
        await this.deps.publisher.published([
          { type: 'refresh.leeway_used', clientId: client.id, familyId: outcome.family.id },
        ]);
        return {
          ok: true,
          family: outcome.family,
          refreshToken: token.value,
          ...(outcome.user ? { user: outcome.user } : {}),
        };
      case 'reuse':
        await this.publishRevoked(outcome.revoked);
        return { ok: false, reason: 'reuse' };
      default:
        return { ok: false, reason: outcome.kind };
    }
  }

  /** The client and session a refresh token belongs to (cookie-mode /logout names no client). */
  async ownerOf(presented: string): Promise<{ clientId: string; sid: string } | undefined> {
    if (!looksLikeRefreshToken(presented)) return undefined;
    const found = await this.deps.refreshTokens.findByHash(sha256(presented));
    return found ? { clientId: found.family.clientId, sid: found.family.id } : undefined;
  }

  /** RFC 7009 for a refresh token: revokes its family if `client` owns it. */
  async revokeRefreshToken(client: ClientRecord, presented: string, audit?: AuditStamp) {
    if (!looksLikeRefreshToken(presented)) return 'not_found' as const;
    const outcome = await retryConflictOnce(() =>
      this.deps.refreshTokens.revokeByHash(
        sha256(presented),
        client.id,
        this.familyRevocation('revoked_by_client', audit),
      ),
    );
    if (outcome.kind === 'revoked') await this.publishRevoked(outcome.revoked);
    return outcome.kind;
  }

  /** /logout: ends the family named by an access token's `sid`. */
  async end(familyId: string, reason: string, audit?: AuditStamp): Promise<boolean> {
    const revoked = await retryConflictOnce(() =>
      this.deps.refreshTokens.revokeFamily(familyId, this.familyRevocation(reason, audit)),
    );
    return (await this.publishRevoked(revoked)).length > 0;
  }

  /** The family keeps only what its client still allows (src/sessions/bounds.ts). */
  async narrow(familyId: string, bounds: SessionBounds): Promise<void> {
    await this.deps.refreshTokens.narrowFamily(familyId, bounds.scope.join(' '), bounds.audience);
  }

  /**
   * A user's live sessions of both kinds, newest first: refresh families and login sessions of
   * /authorize (`sessions list`, GET /admin/users/{id}/sessions).
   */
  async listLive(userId: string): Promise<SessionView[]> {
    const now = new Date(this.deps.now());
    const [families, logins] = await Promise.all([
      this.deps.refreshTokens.listLiveFamilies(userId, now),
      this.deps.loginSessions.listLive(userId, now),
    ]);
    const views: SessionView[] = [
      ...families.map((f) => ({
        kind: 'refresh' as const,
        id: f.id,
        clientId: f.clientId,
        scope: f.scope,
        audience: f.audience,
        createdAt: f.createdAt,
        lastUsedAt: f.lastUsedAt,
        expiresAt: f.expiresAt,
      })),
      ...logins.map((l) => ({
        kind: 'login' as const,
        id: l.id,
        clientId: null,
        scope: null,
        audience: null,
        createdAt: l.createdAt,
        lastUsedAt: null,
        expiresAt: l.expiresAt,
      })),
    ];
    return views.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
  }

  /**
   * DELETE /admin/sessions/{sid}: a refresh family (with the login session it came from) or a
   * login session. False when no such session ever existed; ending twice is a no-op.
   */
  async endById(id: string, reason: string, audit: AuditStamp): Promise<boolean> {
    const ended = await retryConflictOnce(() =>
      this.deps.refreshTokens.endSession(id, this.familyRevocation(reason, audit)),
    );
    if (!ended) return false;
    await this.publishRevoked(ended);
    return true;
  }

  /**
   * The one "end all of a user's sessions" (users disable / set-password, sessions revoke, DELETE
   * /admin/users/{id}/sessions): every refresh family and its live access tokens, every login
   * session of /authorize, every pending authorization code, in one transaction.
   */
  async endUserSessions(userId: string, reason: string, audit?: AuditStamp): Promise<UserSessionsEnded> {
    const ended: EndedSessions = await retryConflictOnce(() =>
      this.deps.refreshTokens.revokeUserSessions(userId, this.familyRevocation(reason, audit)),
    );
    const familyIds = await this.publishRevoked(ended);
    return { familyIds, loginSessionIds: ended.loginSessionIds, pendingCodes: ended.pendingCodes };
  }

  /** clients disable. */
  async endClientSessions(clientId: string, reason: string, audit?: AuditStamp): Promise<string[]> {
    return this.publishRevoked(
      await retryConflictOnce(() =>
        this.deps.refreshTokens.revokeClientFamilies(clientId, this.familyRevocation(reason, audit)),
      ),
    );
  }
}
