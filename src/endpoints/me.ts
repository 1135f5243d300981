import Router from '@koa/router';
import type { Middleware } from 'koa';
import { bearerClaims } from '../http/bearer.js';
import { noCache } from '../http/no_cache.js';

/** A demo protected resource: echoes the verified claims of the bearer token. */
export function meRoutes(deps: { bearer: Middleware }): Router {
  const router = new Router();
  router.get('/me', noCache, deps.bearer, (ctx) => {
    ctx.body = bearerClaims(ctx);
  });
  return router;
}
