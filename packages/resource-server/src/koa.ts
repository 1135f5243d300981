import type { Context, Middleware, Next } from 'koa';
import { RequestRefused } from './errors.js';
import type { ResourceServer } from './resource.js';
import type { AccessClaims } from './tokens.js';

declare module 'koa' {
  interface DefaultState {
    /** The verified claims of the request's access token. */
    auth?: AccessClaims;
  }
}

function send(ctx: Context, kit: ResourceServer, refused: RequestRefused): void {
  const answer = kit.answer(refused);
  ctx.status = answer.status;
  ctx.set(answer.headers);
  ctx.body = answer.body;
}

/**
 * Koa middleware: the request must carry a valid access token (Bearer, or DPoP with its proof)
 * granting every scope in `scopes`; its claims land in `ctx.state.auth`.
 */
export function requireToken(kit: ResourceServer, scopes: readonly string[] = []): Middleware {
  return async function accessToken(ctx: Context, next: Next): Promise<void> {
    try {
      ctx.state.auth = await kit.authenticate(
        {
          method: ctx.method,
          // The path the client sent, before any mount prefix was stripped (DPoP `htu`).
          path: ctx.originalUrl.split('?')[0] as string,
          authorization: ctx.get('authorization') || undefined,
          dpop: ctx.req.headersDistinct.dpop,
        },
        scopes,
      );
    } catch (err) {
      if (err instanceof RequestRefused) return send(ctx, kit, err);
      throw err;
    }
    return next();
  };
}

/** Koa middleware serving RFC 9728 protected-resource metadata at its well-known path. */
export function protectedResourceMetadata(kit: ResourceServer): Middleware {
  const body = JSON.stringify(kit.metadata);
  return async function metadata(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== kit.metadataPath || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.type = 'application/json';
    // Public and the same for every caller (RFC 9728 §3): clients on other origins may read it.
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = body;
  };
}
