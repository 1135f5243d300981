import type { Context } from 'koa';
import { bearerClaims } from '../http/bearer.js';

/** A demo protected resource: echoes the verified claims of the bearer token. */
export async function echoClaims(ctx: Context): Promise<void> {
  ctx.body = bearerClaims(ctx);
}
