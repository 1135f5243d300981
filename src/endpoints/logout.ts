import type { Context } from 'koa';
import type { AuditRecorder } from '../accounts/users.js';
import { requestStamp } from '../facts/stamp.js';
import { bearerClaims } from '../http/bearer.js';
import type { Sessions } from '../sessions/sessions.js';
import type { Denylist } from '../stores/types.js';
import { denylistAccessToken } from '../tokens/access_token.js';

export interface LogoutEndpointDeps {
  sessions: Sessions;
  denylist: Denylist;
  audit: AuditRecorder;
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
    if (claims.sid) await deps.sessions.end(claims.sid, 'logout', stamp);
    else {
      await denylistAccessToken(deps.denylist, claims, 'logout');
      await deps.audit.record(
        stamp,
        'token.revoked',
        { clientId: claims.client_id },
        { token_type: 'access_token', jti: claims.jti, reason: 'logout' },
      );
    }
    ctx.status = 204;
  };
}
