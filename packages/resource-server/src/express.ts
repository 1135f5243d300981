import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestRefused } from './errors.js';
import type { ResourceServer } from './resource.js';
import type { AccessClaims } from './tokens.js';

/**
 * Express-style middleware, typed on Node's own request and response so this package needs no
 * Express types: works in Express 4 and 5, Connect, and anything else with `(req, res, next)`.
 */
export type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** The verified claims, on the request as `req.auth`. */
export interface AuthenticatedRequest extends IncomingMessage {
  auth?: AccessClaims;
}

// Express puts the full path in originalUrl when a router is mounted; plain Node has only url.
const pathOf = (req: IncomingMessage) => {
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(body);
}

/**
 * The request must carry a valid access token (Bearer, or DPoP with its proof) granting every
 * scope in `scopes`; its claims land in `req.auth`.
 */
export function requireToken(kit: ResourceServer, scopes: readonly string[] = []): Handler {
  return (req, res, next) => {
    const header = req.headers.authorization;
    kit
      .authenticate(
        {
          method: req.method ?? 'GET',
          path: pathOf(req),
          authorization: header,
          dpop: req.headersDistinct.dpop,
        },
        scopes,
      )
      .then(
        (claims) => {
          (req as AuthenticatedRequest).auth = claims;
          next();
        },
        (err: unknown) => {
          if (!(err instanceof RequestRefused)) return next(err);
          const answer = kit.answer(err);
          send(res, answer.status, answer.headers, JSON.stringify(answer.body));
        },
      );
  };
}

/** Serves RFC 9728 protected-resource metadata at its well-known path; passes other requests on. */
export function protectedResourceMetadata(kit: ResourceServer): Handler {
  const body = JSON.stringify(kit.metadata);
  return (req, res, next) => {
    if (pathOf(req) !== kit.metadataPath || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
    send(res, 200, { 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'public, max-age=3600' }, body);
  };
}
