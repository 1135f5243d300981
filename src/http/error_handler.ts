import type { Context, Next } from 'koa';
import { OAuthError, StoreError } from '../errors.js';
import type { EventBus } from '../events.js';
import { emitSignal } from '../facts/publisher.js';

/**
 * The one mapping of typed store errors (raised at the store boundary, src/stores/backend_errors.ts)
 * to RFC answers: an unreachable dependency or a transaction that lost a race twice is a 503
 * `temporarily_unavailable` (RFC 6749 §4.1.2.1) with Retry-After (RFC 9110 §10.2.3).
 */
function fromStoreError(err: StoreError, events: EventBus): OAuthError {
  if (err.code === 'unavailable') {
    emitSignal(events, 'dependency.degraded', { dependency: err.dependency ?? 'database', err });
  }
  return new OAuthError('temporarily_unavailable', 'a dependency is unavailable; retry later', {
    headers: { 'Retry-After': '1' },
    detail: err.code === 'unavailable' ? `${err.dependency ?? 'database'} unavailable` : `store ${err.code}`,
  });
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
 * The one mapping from anything thrown to an RFC error: OAuthError as is, typed store errors to 503,
 * parser errors to 4xx, anything unexpected to a bare `server_error` (logged with its stack).
 * Refusals and outages are counted as `request.error`. Rendering is the caller's: JSON here, the
 * error page or the redirect of RFC 6749 §4.1.2.1 at /authorize.
 */
export function toOAuthError(err: unknown, events: EventBus, route: string): OAuthError {
  let oauth: OAuthError;
  if (err instanceof OAuthError) oauth = err;
  else if (err instanceof StoreError) oauth = fromStoreError(err, events);
  else {
    const mapped = fromHttpError(err);
    if (mapped) oauth = mapped;
    else {
      emitSignal(events, 'server.error', { err, route });
      oauth = new OAuthError('server_error', 'internal error');
    }
  }
  if (oauth.status < 500 || oauth.error === 'temporarily_unavailable') {
    emitSignal(events, 'request.error', {
      error: oauth.error,
      status: oauth.status,
      detail: oauth.detail,
      route,
    });
  }
  return oauth;
}

/**
 * The one place errors become JSON responses (RFC 6749 §5.2). Anything unexpected becomes a
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
      render(ctx, toOAuthError(err, events, String(ctx._matchedRoute ?? ctx.path)));
    }
  };
}
