import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { requestState } from './request_state.js';

/** A caller's id is kept when it is 1-128 visible ASCII characters: safe in logs and headers. */
const WELL_FORMED_ID = /^[\x21-\x7e]{1,128}$/;

export function requestIdFor(given: string): string {
  return WELL_FORMED_ID.test(given) ? given : randomUUID();
}

/** The route pattern, never the path: a path can carry a kid or an id, and its set is unbounded. */
export const routeOf = (ctx: Context) =>
  typeof ctx._matchedRoute === 'string' ? ctx._matchedRoute : 'unmatched';

/** The client a request acted for: the authenticated client, or the client of its bearer token. */
export const clientIdOf = (ctx: Context): string | undefined =>
  requestState(ctx).client?.client.id ?? requestState(ctx).token?.claims.client_id;

/**
 * One JSON line per request at `info` (5xx at `error`): request id, method, route pattern, status,
 * duration in ms, client id and client IP. Only these fields are logged, never the URL, headers or
 * body, so no token, secret, password or cookie can reach the line. It is one pino call with a
 * flat object of fixed fields: no per-request child logger, no serializers.
 *
 * The line goes through a child of the process logger made once, without the redaction paths:
 * none of its fields can hold a secret (a route pattern, an id that passed WELL_FORMED_ID, a
 * client id, an address), and redaction was the largest single cost of a request line. Every
 * other log call keeps the redaction (observability.ts).
 */
export function requestLog(log: Logger) {
  const lines = log.child({}, { redact: [] });
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    const start = performance.now();
    const requestId = requestIdFor(ctx.get('x-request-id'));
    requestState(ctx).requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const status = ctx.status;
      const clientId = clientIdOf(ctx);
      const line = {
        requestId,
        method: ctx.method,
        route: routeOf(ctx),
        status,
        // Time in the middleware stack (the body is written after it, as Koa responds).
        ms: Math.round((performance.now() - start) * 100) / 100,
        ...(clientId ? { clientId } : {}),
        ip: ctx.ip,
      };
      if (status >= 500) lines.error(line, 'request failed');
      else lines.info(line, 'request');
    }
  };
}
