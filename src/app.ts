import Koa from 'koa';
import type { Services } from './compose.js';
import { adminKeysRoutes } from './endpoints/admin_keys.js';
import { discoveryRoutes } from './endpoints/discovery.js';
import { healthRoutes } from './endpoints/health.js';
import { introspectRoutes } from './endpoints/introspect.js';
import { logoutRoutes } from './endpoints/logout.js';
import { meRoutes } from './endpoints/me.js';
import { revokeRoutes } from './endpoints/revoke.js';
import { tokenRoutes } from './endpoints/token.js';
import { supportedGrantTypes } from './grants/registry.js';
import { requireBearer } from './http/bearer.js';
import { authenticateClient } from './http/client_auth.js';
import { clientIp } from './http/client_ip.js';
import { errorHandler } from './http/error_handler.js';
import { rejectMalformedUrl } from './http/strict_input.js';
import { requestMetrics } from './observability.js';

/** Security headers for a JSON API that is never framed or sniffed. */
async function securityHeaders(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  await next();
}

/** Builds the Koa app from ready services: middleware order and routes only, no logic. */
export function createApp(services: Services): Koa {
  const { config, events } = services;
  // `proxy` lets X-Forwarded-Proto/Host through from trusted proxies; the client IP is resolved by
  // clientIp() instead, because Koa's would take the leftmost, client-written X-Forwarded-For entry.
  const app = new Koa({ proxy: config.trustProxy !== false });
  // Koa's own error printing would write stack traces to stderr; errors are rendered and logged above.
  app.silent = true;
  app.on('error', (err) =>
    services.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'koa error'),
  );

  const clientAuth = authenticateClient({ clients: services.clients, events });
  const bearer = requireBearer({ verifier: services.verifier, events });

  const routers = [
    tokenRoutes({ grants: services.grants, clientAuth, after: [services.rateLimits.perClient('token')] }),
    introspectRoutes({
      clientAuth,
      verifier: services.verifier,
      refreshTokens: services.refreshInspector,
      issuer: config.issuer,
      now: services.now,
      events,
      after: [services.rateLimits.perClient('introspect')],
    }),
    discoveryRoutes({
      issuer: config.issuer,
      keys: services.keys,
      jwksMaxAge: config.jwksMaxAge,
      grantTypes: () => supportedGrantTypes(services.grants),
      scopes: async () => {
        const scopes = new Set<string>(['admin']);
        for (const c of await services.clients.list()) for (const s of c.scopes) scopes.add(s);
        return [...scopes].sort();
      },
      signingAlgs: () => services.keys.current().algorithms,
    }),
    meRoutes({ bearer }),
    revokeRoutes({
      clientAuth,
      sessions: services.sessions,
      verifier: services.verifier,
      denylist: services.denylist,
      events,
    }),
    logoutRoutes({ bearer, sessions: services.sessions, denylist: services.denylist }),
    adminKeysRoutes({ bearer, keyLifecycle: services.keyLifecycle }),
    healthRoutes({ checks: services.readiness, metrics: services.metrics.registry }),
  ];

  app.use(clientIp(config.trustProxy));
  app.use(requestMetrics(services.metrics, services.log));
  app.use(errorHandler(events));
  app.use(securityHeaders);
  app.use(rejectMalformedUrl);
  for (const r of routers) {
    app.use(r.routes());
    app.use(r.allowedMethods());
  }
  return app;
}
