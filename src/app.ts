import type Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { wellKnownShortPath } from './endpoints/discovery.js';
import type { FactBatchWriter } from './facts/request_facts.js';
import { writeRequestFacts } from './facts/request_writer.js';
import { clientIp } from './http/client_ip.js';
import { errorHandler } from './http/error_handler.js';
import { requestLog } from './http/request_log.js';
import { requestMetrics } from './http/request_metrics.js';
import { rejectMalformedPath } from './http/strict_input.js';
import { opsRoutes, type RouteDeps, routes, steps } from './routes.js';

/** What the app needs from the composition root: the route table's deps, the log and the proxy flag. */
export interface AppDeps extends RouteDeps {
  config: RouteDeps['config'] & Pick<Config, 'trustProxy'>;
  log: Logger;
  /** Also the per-request audit writer's one insert (src/facts/request_writer.ts). */
  facts: RouteDeps['facts'] & FactBatchWriter;
}

/**
 * Security headers for a JSON API that is never framed or sniffed. Set on Node's response directly:
 * Koa's ctx.set builds arrays per call for what are three constant headers. Not async: there is
 * nothing to await before the next step.
 */
function securityHeaders(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  ctx.res.setHeader('X-Content-Type-Options', 'nosniff');
  ctx.res.setHeader('X-Frame-Options', 'DENY');
  ctx.res.setHeader('Referrer-Policy', 'no-referrer');
  return next();
}

/**
 * The steps in front of every route, in order. Named so the bench can measure the whole stack
 * with an empty route and without one of them at a time (bench/README.md, "stack").
 */
export const FRONT_STEPS = [
  'clientIp',
  'requestLog',
  'metrics',
  'errorHandler',
  'securityHeaders',
  'strictPath',
  'wellKnown',
  'requestFacts',
] as const;
export type FrontStep = (typeof FRONT_STEPS)[number];

export interface AppOptions {
  /** The route table (default: src/routes.ts); the bench passes one with an empty route. */
  router?: Router;
  /** A front step left out: only for the bench's per-step attribution, never in production. */
  without?: FrontStep;
}

/** Builds the Koa app: middleware order and the route table (src/routes.ts), no logic. */
export function createApp(deps: AppDeps, options: AppOptions = {}): Koa {
  // `proxy` lets X-Forwarded-Proto/Host through from trusted proxies; the client IP is resolved by
  // clientIp() instead, because Koa's would take the leftmost, client-written X-Forwarded-For entry.
  const app = new Koa({ proxy: deps.config.trustProxy !== false });
  // Koa's own error printing would write stack traces to stderr; errors are rendered and logged above.
  app.silent = true;
  app.on('error', (err) =>
    deps.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'koa error'),
  );
  const s = options.router ? undefined : steps(deps);
  const router = options.router ?? routes(deps, s);
  const front: Record<FrontStep, Koa.Middleware | undefined> = {
    clientIp: clientIp(deps.config.trustProxy),
    requestLog: requestLog(deps.log),
    metrics: requestMetrics(deps.metrics),
    errorHandler: errorHandler(deps.events),
    securityHeaders,
    strictPath: rejectMalformedPath,
    // JWKS and metadata: precomputed answers before the router (endpoints/discovery.ts).
    wellKnown:
      s &&
      wellKnownShortPath({
        '/.well-known/jwks.json': s.serveJwks,
        '/.well-known/oauth-authorization-server': s.serveMetadata,
      }),
    // Inside the error handler, which answers a failed audit insert 503; after the short paths.
    requestFacts: writeRequestFacts(deps.facts),
  };
  for (const name of FRONT_STEPS) {
    const step = front[name];
    if (step && name !== options.without) app.use(step);
  }
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/**
 * The OPS_PORT app: /healthz, /readyz and /metrics on their own listener, so metrics need not be
 * reachable from where clients are (docs/security.md).
 */
export function createOpsApp(
  deps: Pick<AppDeps, 'readiness' | 'drain' | 'metrics' | 'mode' | 'events' | 'log'>,
): Koa {
  const app = new Koa();
  app.silent = true;
  app.on('error', (err) =>
    deps.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'koa error'),
  );
  const router = opsRoutes(deps);
  app.use(errorHandler(deps.events));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
