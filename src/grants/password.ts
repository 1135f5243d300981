import type { AuditRecorder } from '../accounts/users.js';
import { refreshBinding } from '../dpop/binding.js';
import { invalidGrant, invalidRequest } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Sessions } from '../sessions/sessions.js';
import type { AuditStamp, ClientRecord, UserRecord, UserStore } from '../stores/types.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';
import type { PasswordHasher } from '../tokens/passwords.js';
import { issueUserToken } from './issue_token.js';
import type { LoginThrottle } from './login_throttle.js';
import { audienceList, resolveAudience, resolveScope, userScopes } from './scope.js';
import { type GrantHandler, grantStamp } from './types.js';

export interface PasswordGrantDeps {
  users: UserStore;
  hasher: PasswordHasher;
  minter: AccessTokenMinter;
  events: EventBus;
  accessTokenTtl: number;
  /** Every login starts a session (refresh family): its id is the `sid` that /logout ends. */
  sessions: Sessions;
  /** Absent → no login throttling (unit tests). */
  throttle?: LoginThrottle;
  /** Failed logins and lockouts (a success is audited in the session's own transaction). */
  audit: AuditRecorder;
}

/** Usernames and passwords are bounded so a request cannot turn argon2 into a DoS. */
const MAX_CREDENTIAL_LENGTH = 1024;

/** What checking a password needs: the password grant and the login page of /authorize share it. */
export type CredentialDeps = Pick<PasswordGrantDeps, 'users' | 'hasher' | 'events' | 'throttle' | 'audit'>;

/** One sign-in attempt: who typed what, through which client, from where. */
export interface LoginAttempt {
  client: ClientRecord;
  username: string;
  password: string;
  ip: string;
  /** The request's X-Request-Id, for the audit trail. */
  requestId?: string;
  /** How the user signed in, as the audit trail records it. */
  method?: 'password' | 'authorization_code';
}

/** The client acted, from this IP, in this request: the stamp of the attempt's audit events. */
export const attemptStamp = (a: LoginAttempt): AuditStamp => ({
  actor: a.client.id,
  ip: a.ip,
  requestId: a.requestId ?? null,
});

/** The reason is kept in the audit trail only: the client sees one invalid_grant for all three. */
async function loginFailed(
  deps: CredentialDeps,
  attempt: LoginAttempt,
  reason: 'unknown_user' | 'bad_password' | 'disabled',
  userId: string | undefined,
): Promise<void> {
  const { client, username } = attempt;
  deps.events.emit('login.failed', { clientId: client.id, reason });
  await deps.audit.record(
    attemptStamp(attempt),
    'login.failed',
    { username, userId, clientId: client.id },
    { reason, method: attempt.method ?? 'password' },
  );
}

/** Checks the password (or burns the same work for an unknown user); true when it is right. */
async function passwordMatches(deps: CredentialDeps, user: UserRecord | undefined, password: string) {
  return user ? deps.hasher.verify(user.passwordHash, password) : deps.hasher.verifyUnknownUser(password);
}

/**
 * The user behind a username and password. The attempt is counted by the throttle before any
 * hashing (a locked or spent pair/IP gets 429 without argon2 work) and refunded if it succeeds.
 */
async function verifyCredentials(deps: CredentialDeps, attempt: LoginAttempt): Promise<UserRecord> {
  const { client, username, password, ip } = attempt;
  const counted = await deps.throttle?.begin(username, ip);
  let user: UserRecord | undefined;
  let ok: boolean;
  try {
    user = await deps.users.findByUsername(username);
    ok = await passwordMatches(deps, user, password);
  } catch (err) {
    // Not an answer about the password (hashing queue full, database down): it costs nothing.
    await counted?.abandoned();
    throw err;
  }
  if (!user || !ok) {
    const locked = await counted?.failed();
    await loginFailed(deps, attempt, user ? 'bad_password' : 'unknown_user', user?.id);
    if (locked) {
      deps.events.emit('login.locked', { clientId: client.id });
      await deps.audit.record(attemptStamp(attempt), 'login.locked', { username, clientId: client.id });
    }
    throw invalidGrant(user ? 'bad password' : 'unknown user');
  }
  await counted?.succeeded();
  if (user.disabledAt) {
    await loginFailed(deps, attempt, 'disabled', user.id);
    throw invalidGrant('user disabled');
  }
  return user;
}

/**
 * A password login under the throttle (docs/redis.md): attempts are counted before hashing, a
 * locked or spent username+IP pair or IP gets 429 without costing argon2 work, a full hashing
 * queue 503; any failure of the credentials is one generic invalid_grant.
 */
export async function authenticateUser(deps: CredentialDeps, attempt: LoginAttempt): Promise<UserRecord> {
  const { username, password } = attempt;
  if (username.length > MAX_CREDENTIAL_LENGTH || password.length > MAX_CREDENTIAL_LENGTH) {
    throw invalidGrant('credential too long');
  }
  return verifyCredentials(deps, attempt);
}

/** RFC 6749 §4.3 resource owner password credentials. */
export function passwordGrant(deps: PasswordGrantDeps): GrantHandler {
  return {
    grantType: 'password',
    async handle(request) {
      const { client, params, ip } = request;
      const username = params.get('username');
      const password = params.get('password');
      if (username === undefined || password === undefined) {
        throw invalidRequest('username and password are required');
      }
      // Scope and audience are checked before the password so a bad request costs no hashing.
      const allowed = userScopes(client);
      const scope = resolveScope(params.get('scope'), allowed, allowed);
      const audience = resolveAudience(params.get('resource'), client);

      const attempt = { client, username, password, ip, requestId: request.requestId };
      const user = await authenticateUser(deps, attempt);
      const session = await deps.sessions.start({
        userId: user.id,
        client,
        scope,
        audience: audienceList(audience),
        login: { stamp: grantStamp(request), username: user.username, method: 'password' },
        dpopJkt: refreshBinding(client, request.dpop),
      });
      // RFC 6749 §4.3.3: a refresh token only for clients allowed the refresh_token grant.
      return issueUserToken(deps, {
        grantType: 'password',
        client,
        user,
        audience,
        scope,
        sid: session.sid,
        refreshToken: client.grantTypes.includes('refresh_token') ? session.refreshToken : undefined,
        dpop: request.dpop,
      });
    },
  };
}
