import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { requestState } from './request_state.js';

/** A caller's id is kept when it is 1-128 visible ASCII characters: safe in logs and headers. */
const WELL_FORMED_ID = /^[\x21-\x7e]{1,128}$/;

export function requestIdFor(given: string | undefined): string {
  return given !== undefined && WELL_FORMED_ID.test(given) ? given : randomUUID();
}

/** The route pattern, never the path: a path can carry a kid or an id, and its set is unbounded. */
export const routeOf = (ctx: Context) =>
  typeof ctx._matchedRoute === 'string' ? ctx._matchedRoute : 'unmatched';

/**
 * One JSON line per request at `info` (5xx at `error`): request id, method, route pattern, status,
 * duration in ms, client id and client IP. Only these fields are logged, each built here, never the
 * URL, headers or body, so no token, secret, password or cookie can reach the line. It is one pino
 * call with a flat object of fixed fields: no per-request child logger, no serializers.
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
    const state = requestState(ctx);
    // Node's own header object and setHeader: Koa's ctx.get/ctx.set only add per-call arrays. A
    // repeated X-Request-Id arrives joined into one string (and is then not well-formed).
    const requestId = requestIdFor(ctx.req.headers['x-request-id'] as string | undefined);
    state.requestId = requestId;
    ctx.res.setHeader('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const status = ctx.status;
      const line = {
        requestId,
        method: ctx.method,
        route: routeOf(ctx),
        status,
        // Time in the middleware stack (the body is written after it, as Koa responds).
        ms: Math.round((performance.now() - start) * 100) / 100,
        // The client a request acted for: the authenticated client, or its bearer token's client.
        // pino leaves out a field that is undefined.
        clientId: state.client?.client.id ?? state.token?.claims.client_id,
        ip: state.clientIp ?? ctx.ip,
      };
      if (status >= 500) lines.error(line, 'request failed');
      else lines.info(line, 'request');
    }
  };
}
