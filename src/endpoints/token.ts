import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { invalidRequest, OAuthError } from '../errors.js';
import type { GrantRegistry } from '../grants/registry.js';
import { authenticatedClient } from '../http/client_auth.js';
import { noCache } from '../http/no_cache.js';
import { params, parseParams } from '../http/params.js';

export interface TokenEndpointDeps {
  grants: GrantRegistry;
  clientAuth: Middleware;
  /** Extra checks before client authentication (rate limits); empty by default. */
  before?: Middleware[];
  after?: Middleware[];
}

async function dispatchGrant(ctx: Context, grants: GrantRegistry): Promise<void> {
  const p = params(ctx);
  const grantType = p.get('grant_type');
  if (grantType === undefined) throw invalidRequest('grant_type is required');
  const grant = grants.get(grantType);
  if (!grant) throw new OAuthError('unsupported_grant_type', 'this grant type is not supported');
  const { client } = authenticatedClient(ctx);
  if (!client.grantTypes.includes(grant.grantType)) {
    throw new OAuthError('unauthorized_client', 'this client may not use this grant type');
  }
  ctx.body = await grant.handle({ client, params: p, ip: ctx.ip, requestId: ctx.state.requestId });
}

/** RFC 6749 §3.2: no-cache → parse body → authenticate client → check grant → dispatch. */
export function tokenRoutes(deps: TokenEndpointDeps): Router {
  const router = new Router();
  router.post(
    '/token',
    noCache,
    parseParams,
    ...(deps.before ?? []),
    deps.clientAuth,
    ...(deps.after ?? []),
    (ctx) => dispatchGrant(ctx, deps.grants),
  );
  return router;
}
