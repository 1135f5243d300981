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

/** Checks the password (or burns the same work for an unknown user); true when it is right. */
async function passwordMatches(deps: PasswordGrantDeps, user: UserRecord | undefined, password: string) {
  return user ? deps.hasher.verify(user.passwordHash, password) : deps.hasher.verifyUnknownUser(password);
}

/**
 * The user behind a username and password. The attempt is counted by the throttle before any
 * hashing (a locked or spent pair/IP gets 429 without argon2 work) and refunded if it succeeds.
 */
async function verifyCredentials(
  deps: PasswordGrantDeps,
  client: ClientRecord,
  username: string,
  password: string,
  ip: string,
): Promise<UserRecord> {
  const attempt = await deps.throttle?.begin(username, ip);
  let user: UserRecord | undefined;
  let ok: boolean;
  try {
    user = await deps.users.findByUsername(username);
    ok = await passwordMatches(deps, user, password);
  } catch (err) {
    // Not an answer about the password (hashing queue full, database down): it costs nothing.
    await attempt?.abandoned();
    throw err;
  }
  if (!user || !ok) {
    await attempt?.failed();
    deps.events.emit('login.failed', { clientId: client.id, reason: user ? 'bad_password' : 'unknown_user' });
    throw invalidGrant(user ? 'bad password' : 'unknown user');
  }
  await attempt?.succeeded();
  if (user.disabledAt) {
    deps.events.emit('login.failed', { clientId: client.id, reason: 'disabled' });
    throw invalidGrant('user disabled');
  }
  return user;
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
      if (username.length > MAX_CREDENTIAL_LENGTH || password.length > MAX_CREDENTIAL_LENGTH) {
        throw invalidGrant('credential too long');
      }
      // Scope and audience are checked before the password so a bad request costs no hashing.
      const allowed = userScopes(client);
      const scope = resolveScope(params.get('scope'), allowed, allowed);
      const audience = resolveAudience(params.get('resource'), client);

      const user = await verifyCredentials(deps, client, username, password, ip);
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
