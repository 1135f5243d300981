import { invalidGrant, invalidRequest } from '../errors.js';
import type { FactPublisher } from '../facts/publisher.js';
import { boundByClient, narrows } from '../sessions/bounds.js';
import type { RefreshResult, Sessions } from '../sessions/sessions.js';
import type { RefreshFamily, UserStore } from '../stores/types.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';
import { issueUserToken } from './issue_token.js';
import { narrowAudience, resolveScope } from './scope.js';
import type { GrantHandler } from './types.js';

export interface RefreshGrantDeps {
  sessions: Sessions;
  users: UserStore;
  minter: AccessTokenMinter;
  /** After the work is done: its facts to events, metrics and logs. */
  publisher: Pick<FactPublisher, 'published'>;
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
  wrong_key: 'refresh token bound to another DPoP key (or a proof is missing)',
};

/**
 * RFC 6749 §6: every use rotates; scope may only narrow (omitted → the original scope, less what
 * the client no longer allows).
 */
export function refreshTokenGrant(deps: RefreshGrantDeps): GrantHandler {
  return {
    grantType: 'refresh_token',
    async handle(request) {
      const { client, params } = request;
      const { stamp } = request;
      const presented = params.get('refresh_token');
      if (presented === undefined) throw invalidRequest('refresh_token is required');
      const requestedScope = params.get('scope');
      const resource = params.get('resource');
      // The family's grant as the client's record allows it now (src/sessions/bounds.ts); a
      // request may only narrow that. `ended` when nothing the family had is allowed any more.
      const grant = (family: RefreshFamily) => {
        const bounds = boundByClient(family, client);
        if (!bounds) return 'ended' as const;
        return {
          bounds,
          scope: resolveScope(requestedScope, bounds.scope, bounds.scope),
          audience: narrowAudience(resource, bounds.audience),
        };
      };
      // A requested scope or resource is checked against the locked family before the token is
      // spent, so a bad request does not cost the client its token. Without either, nothing can
      // be refused, and the rotation may take the store's one-round-trip path.
      const narrowing = requestedScope !== undefined || resource !== undefined;
      let granted: ReturnType<typeof grant> | undefined;
      const result = await deps.sessions.refresh(
        client,
        presented,
        stamp,
        narrowing
          ? (family) => {
              granted = grant(family);
            }
          : undefined,
        // RFC 9449 §5: a bound family refreshes only with a proof of its key.
        request.dpop?.jkt,
      );
      if (!result.ok) throw invalidGrant(FAILURE_DETAIL[result.reason]);
      if (narrowing && !granted) throw invalidGrant('not checked');
      const decided = granted ?? grant(result.family);
      if (decided === 'ended') {
        await deps.sessions.end(result.family.id, 'client_changed', stamp);
        throw invalidGrant('no audience of the session is allowed for the client any more');
      }
      const { scope, audience, bounds } = decided;
      // What the client lost stays lost for the family, even if the client gets it back later.
      if (narrows(result.family, bounds)) await deps.sessions.narrow(result.family.id, bounds);
      // The one-statement rotation reads the owner in the same round trip; the transaction does not.
      const user = result.user ?? (await deps.users.findById(result.family.userId));
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
        dpop: request.dpop,
      });
    },
  };
}
