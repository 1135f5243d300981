import { invalidGrant, invalidRequest, StoreError } from '../errors.js';
import type { FactPublisher } from '../facts/publisher.js';
import { boundByClient, narrows } from '../sessions/bounds.js';
import { looksLikeRefreshToken, newRefreshToken, type SessionSettings } from '../sessions/tokens.js';
import type {
  AuditStamp,
  ClientRecord,
  RefreshFamily,
  RefreshTokenStore,
  RotateOutcome,
  UserRecord,
  UserStore,
} from '../stores/types.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';
import { sha256 } from '../tokens/secrets.js';
import { issueUserToken } from './issue_token.js';
import { narrowAudience, resolveScope } from './scope.js';
import type { GrantHandler } from './types.js';

export interface RefreshGrantDeps {
  refreshTokens: Pick<RefreshTokenStore, 'rotate' | 'revokeFamily' | 'narrowFamily'>;
  settings: Pick<SessionSettings, 'refreshTokenIdleTtl' | 'refreshReuseLeeway'>;
  now: () => number;
  users: Pick<UserStore, 'findById'>;
  minter: AccessTokenMinter;
  /** After the work is done: its facts to events, metrics and logs. */
  publisher: Pick<FactPublisher, 'published'>;
  accessTokenTtl: number;
}

type RefreshResult =
  /** `user`: the family's owner when the store read it in the same round trip. */
  | { ok: true; family: RefreshFamily; refreshToken: string; user?: UserRecord }
  | { ok: false; reason: Exclude<RotateOutcome['kind'], 'rotated' | 'leeway'> | 'conflict' };

/**
 * RFC 6749 §6 with rotation, reuse detection and the leeway (docs/sessions.md), in one store
 * transaction. `check` sees the locked family before anything is spent and may throw to refuse;
 * without one, a clean rotation takes the store's one-statement path. A reuse is audited with
 * `stamp` in its revoking transaction (and published by the store).
 */
async function rotate(
  deps: RefreshGrantDeps,
  client: ClientRecord,
  presented: string,
  stamp: AuditStamp,
  check: ((family: RefreshFamily) => void) | undefined,
  dpopJkt: string | undefined,
): Promise<RefreshResult> {
  if (!looksLikeRefreshToken(presented)) return { ok: false, reason: 'not_found' };
  const now = deps.now();
  const token = newRefreshToken(client, deps.settings, now);
  let outcome: RotateOutcome;
  try {
    outcome = await deps.refreshTokens.rotate({
      hash: sha256(presented),
      clientId: client.id,
      child: token.record,
      leeway: client.refreshReuseLeeway ?? deps.settings.refreshReuseLeeway,
      now: new Date(now),
      audit: stamp,
      check,
      dpopJkt,
    });
  } catch (err) {
    // RFC 6749 §5.2: a transaction that lost a race to a concurrent use of the same token is a
    // loser, answered invalid_grant; an outage stays a 503.
    if (err instanceof StoreError && (err.code === 'conflict' || err.code === 'exists'))
      return { ok: false, reason: 'conflict' };
    throw err;
  }
  if (outcome.kind !== 'rotated' && outcome.kind !== 'leeway') return { ok: false, reason: outcome.kind };
  const type = outcome.kind === 'rotated' ? 'refresh.rotated' : 'refresh.leeway_used';
  await deps.publisher.published([{ type, clientId: client.id, familyId: outcome.family.id }]);
  return {
    ok: true,
    family: outcome.family,
    refreshToken: token.value,
    ...(outcome.user ? { user: outcome.user } : {}),
  };
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
      const result = await rotate(
        deps,
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
        await deps.refreshTokens.revokeFamily(result.family.id, { reason: 'client_changed', audit: stamp });
        throw invalidGrant('no audience of the session is allowed for the client any more');
      }
      const { scope, audience, bounds } = decided;
      // What the client lost stays lost for the family, even if the client gets it back later.
      if (narrows(result.family, bounds))
        await deps.refreshTokens.narrowFamily(result.family.id, bounds.scope.join(' '), bounds.audience);
      // The one-statement rotation reads the owner in the same round trip; the transaction does not.
      const user = result.user ?? (await deps.users.findById(result.family.userId));
      if (!user || user.disabledAt) {
        await deps.refreshTokens.revokeFamily(result.family.id, { reason: 'user_disabled', audit: stamp });
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
