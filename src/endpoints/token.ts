import type { Context, Next } from 'koa';
import { invalidRequest, OAuthError } from '../errors.js';
import type { GrantRegistry } from '../grants/registry.js';
import { authenticatedClient } from '../http/client_auth.js';
import { params } from '../http/params.js';
import { requestState } from '../http/request_state.js';

/**
 * RFC 6749 §5.2: a missing grant_type is invalid_request, an unknown one unsupported_grant_type,
 * and one this client is not registered for unauthorized_client. The grant it picks answers the
 * request from the route table itself (src/routes.ts `runGrant`), one hop from the route.
 */
export function checkGrant(grants: GrantRegistry) {
  return async function checkGrant(ctx: Context, next: Next): Promise<void> {
    const grantType = params(ctx).get('grant_type');
    if (grantType === undefined) throw invalidRequest('grant_type is required');
    const grant = grants.get(grantType);
    if (!grant) throw new OAuthError('unsupported_grant_type', 'this grant type is not supported');
    if (!authenticatedClient(ctx).client.grantTypes.includes(grant.grantType)) {
      throw new OAuthError('unauthorized_client', 'this client may not use this grant type');
    }
    requestState(ctx).grant = grant;
    return next();
  };
}
