import { invalidGrant, invalidRequest, OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { RefreshResult, Sessions } from '../sessions/sessions.js';
import type { RefreshFamily, UserStore } from '../stores/types.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';
import { resolveScope } from './scope.js';
import { type GrantHandler, grantStamp, issueUserToken } from './types.js';

export interface RefreshGrantDeps {
  sessions: Sessions;
  users: UserStore;
  minter: AccessTokenMinter;
  events: EventBus;
  accessTokenTtl: number;
}

/** Private details for the log; the client always sees one invalid_grant description. */
const FAILURE_DETAIL: Record<Extract<RefreshResult, { ok: false }>['reason'], string> = {
  not_found: 'unknown refresh token',
  wrong_client: 'refresh token issued to another client',
  revoked: 'refresh family revoked',
  expired: 'refresh token or family expired',
  reuse: 'spent refresh token presented again: family revoked',
  conflict: 'lost a concurrent rotation',
};

/** RFC 8707 §2 on refresh: the audience may only narrow to one of the family's audiences. */
function refreshAudience(resource: string | undefined, family: RefreshFamily): string | string[] {
  if (resource === undefined) {
    return family.audience.length === 1 ? (family.audience[0] as string) : [...family.audience];
  }
  if (!family.audience.includes(resource)) {
    throw new OAuthError('invalid_target', 'the resource is not available to this grant');
  }
  return resource;
}

/** RFC 6749 §6: every use rotates; scope may only narrow (omitted → the original scope). */
export function refreshTokenGrant(deps: RefreshGrantDeps): GrantHandler {
  return {
    grantType: 'refresh_token',
    params: ['refresh_token', 'scope', 'resource'],
    async handle(request) {
      const { client, params } = request;
      const stamp = grantStamp(request);
      const presented = params.get('refresh_token');
      if (presented === undefined) throw invalidRequest('refresh_token is required');
      // Scope and audience are checked against the family before the token is spent, so a bad
      // request does not cost the client its token. Another client's token looks unknown here.
      const peeked = await deps.sessions.peek(client, presented);
      if (!peeked) {
        // Still go through rotate: it records the reuse or ownership outcome under the lock.
        const result = await deps.sessions.refresh(client, presented, stamp);
        throw invalidGrant(result.ok ? 'unexpected success' : FAILURE_DETAIL[result.reason]);
      }
      const original = peeked.scope.split(' ').filter(Boolean);
      const scope = resolveScope(params.get('scope'), original, original);
      const audience = refreshAudience(params.get('resource'), peeked);

      const result = await deps.sessions.refresh(client, presented, stamp);
      if (!result.ok) throw invalidGrant(FAILURE_DETAIL[result.reason]);
      const user = await deps.users.findById(result.family.userId);
      if (!user || user.disabledAt) {
        await deps.sessions.end(result.family.id, 'user_disabled', stamp);
        throw invalidGrant('user disabled or gone');
      }
      return issueUserToken(deps, {
        grantType: 'refresh_token',
        client,
        user,
        audience,
        scope,
        sid: result.family.id,
        refreshToken: result.refreshToken,
      });
    },
  };
}
