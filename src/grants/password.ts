import { refreshBinding } from '../dpop/binding.js';
import { invalidGrant, invalidRequest } from '../errors.js';
import type { FactPublisher } from '../facts/publisher.js';
import { tooManyRequests } from '../http/rate_limits.js';
import { authenticateUser, type CredentialDeps } from '../login/credentials.js';
import { type StartSessionDeps, startSession } from '../sessions/start.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';
import { HashingBusy } from '../tokens/hashing_queue.js';
import { issueUserToken } from './issue_token.js';
import { audienceList, resolveAudience, resolveScope, userScopes } from './scope.js';
import type { GrantHandler } from './types.js';

export interface PasswordGrantDeps {
  /** The credentials check (src/login/credentials.ts), shared with the login page. */
  credentials: CredentialDeps;
  minter: AccessTokenMinter;
  /** After the work is done: its facts to events, metrics and logs. */
  publisher: Pick<FactPublisher, 'published'>;
  accessTokenTtl: number;
  /** Every login starts a session (refresh family): its id is the `sid` that /logout ends. */
  sessions: StartSessionDeps;
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

      const { stamp } = request;
      const attempt = { clientId: client.id, username, password, ip, stamp, method: 'password' as const };
      const result = await authenticateUser(deps.credentials, attempt, async (user, succeeded) => {
        // login.succeeded is audited in the transaction that starts the session: the row and the
        // family exist together or not at all, and the login costs no round trip of its own.
        const session = await startSession(deps.sessions, {
          userId: user.id,
          client,
          scope,
          audience: audienceList(audience),
          stamp,
          dpopJkt: refreshBinding(client, request.dpop),
          login: succeeded,
        });
        return { sessionId: session.sid, refreshToken: session.refreshToken, recorded: true };
      });
      switch (result.kind) {
        // RFC 6749 §5.2: one invalid_grant for every failure of the credentials; the reason is
        // in the audit trail only.
        case 'bad_credentials':
          throw invalidGrant('bad credentials');
        case 'disabled':
          throw invalidGrant('user disabled');
        case 'locked':
          throw tooManyRequests(result.limit, result.retryAfterSeconds);
        case 'busy':
          throw new HashingBusy(result.retryAfterSeconds * 1000);
      }
      const { user, session } = result;
      // RFC 6749 §4.3.3: a refresh token only for clients allowed the refresh_token grant.
      return issueUserToken(deps, {
        grantType: 'password',
        client,
        user,
        audience,
        scope,
        sid: session.sessionId,
        refreshToken: client.grantTypes.includes('refresh_token') ? session.refreshToken : undefined,
        dpop: request.dpop,
      });
    },
  };
}
