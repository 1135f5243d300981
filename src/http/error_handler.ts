import type { Context, Next } from 'koa';
import { OAuthError, StoreError } from '../errors.js';
import type { EventBus } from '../events.js';

/** Connection-level failures that mean "a dependency is down": answered with 503, retried later. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreError) return err.code === 'unavailable';
  if (!(err instanceof Error)) return false;
  if (err.name === 'KnexTimeoutError') return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code))
      return true;
    // SQLSTATE class 08 (connection exception) and 57P0x (admin shutdown, crash shutdown, cannot connect now).
    if (/^08/.test(code) || /^57P0/.test(code)) return true;
  }
  return /Connection terminated|connection.*closed|Client was closed/i.test(err.message);
}

/** Translates what the body parser and koa throw (http-errors with status/expose) into OAuthError. */
function fromHttpError(err: unknown): OAuthError | undefined {
  if (!(err instanceof Error)) return undefined;
  const status = (err as { status?: unknown }).status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (status === 413) return new OAuthError('invalid_request', 'request body too large', { status: 413 });
  if (status === 415) return new OAuthError('invalid_request', 'unsupported content type', { status: 415 });
  // Never the parser's message: Node's JSON.parse quotes the body, which may hold a password.
  const type = (err as { type?: unknown }).type;
  return new OAuthError('invalid_request', 'malformed request', {
    status: 400,
    detail: typeof type === 'string' ? type : 'unparseable request',
  });
}

function render(ctx: Context, err: OAuthError): void {
  ctx.status = err.status;
  for (const [k, v] of Object.entries(err.headers)) ctx.set(k, v);
  // Error bodies of the token endpoints must not be cached either (RFC 6749 §5.1 applies to both).
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.body = { error: err.error, error_description: err.description };
}

/**
 * The one place errors become responses (RFC 6749 §5.2 JSON). Anything unexpected becomes a
 * generic `server_error` with no detail; dependency outages become 503 `temporarily_unavailable`.
 */
export function errorHandler(events: EventBus) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        render(ctx, new OAuthError('not_found', 'no such endpoint'));
      } else if (ctx.status === 405 && (ctx.body === undefined || typeof ctx.body === 'string')) {
        render(ctx, new OAuthError('invalid_request', 'method not allowed', { status: 405 }));
      }
    } catch (err) {
      const route = String(ctx._matchedRoute ?? ctx.path);
      let oauth: OAuthError;
      if (err instanceof OAuthError) oauth = err;
      else if (isUnavailable(err)) {
        oauth = new OAuthError('temporarily_unavailable', 'a dependency is unavailable; retry later', {
          headers: { 'Retry-After': '1' },
        });
        events.emit('dependency.degraded', { dependency: 'database', err });
      } else {
        const mapped = fromHttpError(err);
        if (mapped) oauth = mapped;
        else {
          events.emit('server.error', { err, route });
          oauth = new OAuthError('server_error', 'internal error');
        }
      }
      if (oauth.status < 500 || oauth.error === 'temporarily_unavailable') {
        events.emit('request.error', {
          error: oauth.error,
          status: oauth.status,
          detail: oauth.detail,
          route,
        });
      }
      render(ctx, oauth);
    }
  };
}
