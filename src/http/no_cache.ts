import type { Context, Next } from 'koa';

/** RFC 6749 §5.1: responses carrying tokens or credentials must not be cached. */
export async function noCache(ctx: Context, next: Next): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  await next();
}
