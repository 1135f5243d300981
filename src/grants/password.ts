import { invalidGrant, invalidRequest } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Sessions } from '../sessions/sessions.js';
import type { ClientRecord, UserRecord, UserStore } from '../stores/types.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';
import type { PasswordHasher } from '../tokens/passwords.js';
import { issueUserToken } from './issue_token.js';
import type { LoginThrottle } from './login_throttle.js';
import { audienceList, resolveAudience, resolveScope, userScopes } from './scope.js';
import type { GrantHandler } from './types.js';

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
}

/** Usernames and passwords are bounded so a request cannot turn argon2 into a DoS. */
const MAX_CREDENTIAL_LENGTH = 1024;

/** What checking a password needs: the password grant and the login page of /authorize share it. */
export type CredentialDeps = Pick<PasswordGrantDeps, 'users' | 'hasher' | 'events' | 'throttle'>;

/** One sign-in attempt: who typed what, through which client, from where. */
export interface LoginAttempt {
  client: ClientRecord;
  username: string;
  password: string;
  ip: string;
}

/** The user behind a username and password, counting failures and successes for the throttle. */
async function verifyCredentials(deps: CredentialDeps, attempt: LoginAttempt): Promise<UserRecord> {
  const { client, username, password, ip } = attempt;
  const user = await deps.users.findByUsername(username);
  const ok = user
    ? await deps.hasher.verify(user.passwordHash, password)
    : await deps.hasher.verifyUnknownUser(password);
  if (!user || !ok) {
    await deps.throttle?.recordFailure(username, ip);
    deps.events.emit('login.failed', { clientId: client.id, reason: user ? 'bad_password' : 'unknown_user' });
    throw invalidGrant(user ? 'bad password' : 'unknown user');
  }
  await deps.throttle?.recordSuccess(username, ip);
  if (user.disabledAt) {
    deps.events.emit('login.failed', { clientId: client.id, reason: 'disabled' });
    throw invalidGrant('user disabled');
  }
  return user;
}

/**
 * A password login under the throttle (docs/redis.md): a locked username+IP pair gets 429 without
 * costing argon2 work; any failure is one generic invalid_grant.
 */
export async function authenticateUser(deps: CredentialDeps, attempt: LoginAttempt): Promise<UserRecord> {
  const { username, password, ip } = attempt;
  if (username.length > MAX_CREDENTIAL_LENGTH || password.length > MAX_CREDENTIAL_LENGTH) {
    throw invalidGrant('credential too long');
  }
  const release = await deps.throttle?.check(username, ip);
  try {
    return await verifyCredentials(deps, attempt);
  } finally {
    await release?.();
  }
}

/** RFC 6749 §4.3 resource owner password credentials. */
export function passwordGrant(deps: PasswordGrantDeps): GrantHandler {
  return {
    grantType: 'password',
    async handle({ client, params, ip }) {
      const username = params.get('username');
      const password = params.get('password');
      if (username === undefined || password === undefined) {
        throw invalidRequest('username and password are required');
      }
      // Scope and audience are checked before the password so a bad request costs no hashing.
      const allowed = userScopes(client);
      const scope = resolveScope(params.get('scope'), allowed, allowed);
      const audience = resolveAudience(params.get('resource'), client);

      const user = await authenticateUser(deps, { client, username, password, ip });
      const session = await deps.sessions.start({
        userId: user.id,
        client,
        scope,
        audience: audienceList(audience),
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
      });
    },
  };
}
