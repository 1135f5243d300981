import type { Context } from 'koa';
import { accessTokenRevoked } from '../facts/facts.js';
import type { FactSink } from '../facts/publisher.js';
import { requestStamp } from '../facts/stamp.js';
import { bearerClaims } from '../http/bearer.js';
import type { RefreshTokenStore } from '../stores/types.js';

export interface LogoutEndpointDeps {
  /** Ends the family, denylists its `sid` and audits the end, in one transaction. */
  refreshTokens: Pick<RefreshTokenStore, 'revokeFamily'>;
  facts: FactSink;
}

/**
 * Ends the bearer token's session: its family is revoked and its `sid` denylisted, so every access
 * token of that login stops at once. A token without `sid` (client_credentials) has no session;
 * its own `jti` is denylisted so the call still logs that token out.
 */
export function endSession(deps: LogoutEndpointDeps) {
  return async function endSession(ctx: Context): Promise<void> {
    const claims = bearerClaims(ctx);
    const stamp = requestStamp(ctx, claims.client_id);
    if (claims.sid) await deps.refreshTokens.revokeFamily(claims.sid, { reason: 'logout', audit: stamp });
    else await deps.facts.record(stamp, [accessTokenRevoked(claims, 'logout')]);
    ctx.status = 204;
  };
}
