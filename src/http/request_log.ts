import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';

declare module 'koa' {
  interface DefaultState {
    /** The caller's X-Request-Id when well-formed, otherwise one made here (docs/monitoring.md). */
    requestId?: string;
  }
}

/** A caller's id is kept when it is 1-128 visible ASCII characters: safe in logs and headers. */
const WELL_FORMED_ID = /^[\x21-\x7e]{1,128}$/;

export function requestIdFor(given: string): string {
  return WELL_FORMED_ID.test(given) ? given : randomUUID();
}

/** What the log line of one request says; filled in once the route and the client are known. */
interface RequestLine {
  requestId: string;
  method: string;
  route: string;
  clientId: string | undefined;
  ip: string;
}

const lines = new WeakMap<IncomingMessage, RequestLine>();

/** The route pattern, never the path: a path can carry a kid or an id, and its set is unbounded. */
export const routeOf = (ctx: Context) =>
  typeof ctx._matchedRoute === 'string' ? ctx._matchedRoute : 'unmatched';

/** The client a request acted for: the authenticated client, or the client of its bearer token. */
export const clientIdOf = (ctx: Context): string | undefined =>
  ctx.state.client?.client.id ?? ctx.state.token?.claims.client_id;

/**
 * One JSON line per request at `info` (5xx at `error`) through pino-http: request id, method,
 * route pattern, status, duration, client id and client IP. Only these fields are logged, never
 * the URL, headers or body, so no token, secret, password or cookie can reach the line.
 */
export function requestLog(log: Logger) {
  const http = pinoHttp({
    logger: log,
    // Neither the request nor the response object is bound to the line: their headers carry
    // Authorization and Cookie. The line is built from the fields below only.
    quietReqLogger: true,
    quietResLogger: true,
    // The id is chosen by the Koa middleware below (it must be echoed even when logging is off).
    genReqId: (req) => lines.get(req)?.requestId ?? randomUUID(),
    customAttributeKeys: { reqId: 'requestId', responseTime: 'ms' },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    customSuccessMessage: () => 'request',
    customErrorMessage: () => 'request failed',
    customSuccessObject: (req, res, value) => lineOf(req, res, value),
    customErrorObject: (req, res, _err, value) => lineOf(req, res, value),
  });

  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    const requestId = requestIdFor(ctx.get('x-request-id'));
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const line: RequestLine = {
      requestId,
      method: ctx.method,
      route: 'unmatched',
      clientId: undefined,
      ip: ctx.ip,
    };
    lines.set(ctx.req, line);
    http(ctx.req, ctx.res);
    try {
      await next();
    } finally {
      line.route = routeOf(ctx);
      line.clientId = clientIdOf(ctx);
    }
  };
}

function lineOf(req: IncomingMessage, res: ServerResponse, value: Record<string, unknown>) {
  const line = lines.get(req);
  return {
    method: line?.method,
    route: line?.route,
    status: res.statusCode,
    ms: value.ms,
    ...(line?.clientId ? { clientId: line.clientId } : {}),
    ip: line?.ip,
  };
}
