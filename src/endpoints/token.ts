import type { Context, Next } from 'koa';
import { invalidRequest, OAuthError } from '../errors.js';
import { requestStamp } from '../facts/stamp.js';
import type { GrantRegistry } from '../grants/registry.js';
import { authenticatedClient } from '../http/client_auth.js';
import { params } from '../http/params.js';
import { requestState } from '../http/request_state.js';

/**
 * RFC 6749 §5.2: a missing grant_type is invalid_request, an unknown one unsupported_grant_type,
 * and one this client is not registered for unauthorized_client.
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

/** Runs the grant chosen by checkGrant; its RFC 6749 §5.1 answer is the response body. */
export async function dispatchGrant(ctx: Context): Promise<void> {
  const { grant, dpop } = requestState(ctx);
  if (!grant) throw new Error('checkGrant must run first');
  const { client } = authenticatedClient(ctx);
  ctx.body = await grant.handle({
    client,
    params: params(ctx),
    ip: ctx.ip,
    stamp: requestStamp(ctx, client.id),
    // Set by checkDpopProof (src/dpop/token_proof.ts) when the request carried a valid proof.
    ...(dpop ? { dpop } : {}),
  });
}
