/**
 * Security facts: what an operation established, as values (docs/audit.md). Operations return
 * them; `auditRows` (./audit_rows.ts) is the one mapping to audit rows, written inside the
 * operation's own transaction when it has one; after commit `FactPublisher` (./publisher.ts) is
 * the one place that turns them into events (and so metrics and log lines, src/observability.ts)
 * and denylist cache entries. Facts carry ids, never token or secret values.
 */

/** The two kinds of session a user can hold (docs/sessions.md): a refresh family, a browser sign-in. */
export type SessionKind = 'refresh' | 'login';

/** How the user signed in, as the audit trail records it. */
export type LoginMethod = 'password' | 'authorization_code';

/** Kept in the audit trail and the debug log only: every caller sees one generic failure. */
export type LoginFailureReason = 'unknown_user' | 'bad_password' | 'disabled';

/** Session facts: written by the refresh store in the transaction that established them. */
export type SessionFact =
  | {
      type: 'session.ended';
      kind: SessionKind;
      sid: string;
      userId: string;
      clientId: string | null;
      reason: string;
    }
  | { type: 'refresh.reuse_detected'; sid: string; userId: string; clientId: string }
  /** RFC 7009 for a refresh token: its family is revoked with it. */
  | { type: 'token.revoked'; token: 'refresh'; sid: string; userId: string; clientId: string };

interface LoginFactBase {
  clientId: string;
  /** As typed (an unknown username is recorded too: it is what a guesser tried). */
  username: string;
  method: LoginMethod;
}

/** What a credentials check established (src/login/credentials.ts). */
export type LoginFact =
  /** `sessionId`: the refresh family or login session the login started, when it has an id. */
  | (LoginFactBase & { type: 'login.succeeded'; userId: string; sessionId?: string })
  | (LoginFactBase & { type: 'login.failed'; reason: LoginFailureReason; userId?: string })
  /** This failure locked the username+IP pair. */
  | (LoginFactBase & { type: 'login.locked' });

export type LoginSucceeded = Extract<LoginFact, { type: 'login.succeeded' }>;

/** RFC 7009 for an access token, or /logout of a token without a session: its `jti` is denylisted. */
export interface AccessTokenRevoked {
  type: 'token.revoked';
  token: 'access';
  clientId: string;
  jti: string;
  /** When the token expires: the denylist entry need not outlive it. */
  expiresAt: Date;
  username?: string;
  sid?: string;
  /** Recorded in the detail when it is not the endpoint's own (`logout`). */
  reason?: string;
}

/**
 * An access token blocked by its `jti` until its own `exp` (after that it is refused anyway):
 * RFC 7009 §2.1 at /revoke, and /logout of a token without a session (client_credentials).
 */
export function accessTokenRevoked(
  claims: { client_id: string; jti: string; exp: number; username?: string; sid?: string },
  reason?: string,
): AccessTokenRevoked {
  return {
    type: 'token.revoked',
    token: 'access',
    clientId: claims.client_id,
    jti: claims.jti,
    expiresAt: new Date(claims.exp * 1000),
    ...(claims.username ? { username: claims.username } : {}),
    ...(claims.sid ? { sid: claims.sid } : {}),
    ...(reason ? { reason } : {}),
  };
}

export type UserFact =
  | { type: 'user.created'; userId: string; username: string; roles: string[] }
  | { type: 'user.disabled' | 'user.password_changed'; userId: string; username: string };

export type ClientFact =
  | {
      type: 'client.created';
      clientId: string;
      grantTypes: string[];
      scopes: string[];
      isPublic: boolean;
      isAdmin: boolean;
      canIntrospect: boolean;
      dpopBoundAccessTokens: boolean;
    }
  /** `fields`: the changed fields as the admin API names them. */
  | { type: 'client.updated'; clientId: string; fields: string[] }
  | { type: 'client.disabled' | 'client.secret_rotated' | 'client.registration_deleted'; clientId: string }
  /** RFC 7591: `redirectHosts`, never the full URIs. */
  | {
      type: 'client.registered';
      clientId: string;
      applicationType: string;
      authMethod: string;
      grantTypes: string[];
      redirectHosts: string[];
      scope: string;
    }
  | { type: 'client.registration_updated'; clientId: string; redirectHosts: string[]; scope: string }
  /** The admin policy refused a change (src/accounts/admin_policy.ts). */
  | { type: 'admin.refused'; clientId: string | null; action: string; reason: string };

export type ConsentFact =
  | {
      type: 'consent.granted' | 'consent.denied';
      userId: string;
      clientId: string;
      scope: string;
      resource: string;
    }
  | { type: 'consent.revoked'; userId: string; clientId: string; consents: number; sessionsEnded: number };

/** Key facts: `key.rotated` and `key.revoked` are written in the key transition's transaction. */
export type KeyFact =
  | { type: 'key.rotated'; kid: string; previousKid: string; nextKid: string; forced: boolean }
  | { type: 'key.revoked'; kid: string; previousState: string }
  | { type: 'key.rewrapped'; rewrapped: number; total: number };

/** Facts that are published but have no audit row (their volume would drown the trail). */
export type TrafficFact =
  | { type: 'token.issued'; grantType: string; clientId: string; sub: string; kid: string; sid?: string }
  | { type: 'refresh.rotated' | 'refresh.leeway_used'; clientId: string; familyId: string }
  /** An authorization code presented after it was used (RFC 6749 §4.1.2): its session is revoked. */
  | { type: 'code.reuse_detected'; clientId: string; familyId: string | undefined };

export type SecurityFact =
  | SessionFact
  | LoginFact
  | AccessTokenRevoked
  | UserFact
  | ClientFact
  | ConsentFact
  | KeyFact
  | TrafficFact;
