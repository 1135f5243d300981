import Router from '@koa/router';
import type { Middleware } from 'koa';
import Koa from 'koa';
import type { Services } from './compose.js';
import {
  type AdminDeps,
  adminAuditSteps,
  adminClientSteps,
  adminUserSteps,
  parseJsonBody,
} from './endpoints/admin.js';
import { adminKeysRoutes } from './endpoints/admin_keys.js';
import { discoveryRoutes } from './endpoints/discovery.js';
import { healthRoutes } from './endpoints/health.js';
import { introspectRoutes } from './endpoints/introspect.js';
import { logoutRoutes } from './endpoints/logout.js';
import { meRoutes } from './endpoints/me.js';
import { revokeRoutes } from './endpoints/revoke.js';
import { tokenRoutes } from './endpoints/token.js';
import { supportedGrantTypes } from './grants/registry.js';
import { requireAdminScope, requireBearer } from './http/bearer.js';
import { authenticateClient } from './http/client_auth.js';
import { errorHandler } from './http/error_handler.js';
import { noCache } from './http/no_cache.js';
import { requestLog } from './http/request_log.js';
import { requestMetrics } from './observability.js';

function adminRoutes(bearer: Middleware, deps: AdminDeps): Router {
  const c = adminClientSteps(deps);
  const u = adminUserSteps(deps);
  const a = adminAuditSteps(deps);
  const clients = [noCache, bearer, requireAdminScope('admin:clients')] as const;
  const users = [noCache, bearer, requireAdminScope('admin:users')] as const;
  const audit = [noCache, bearer, requireAdminScope('admin:audit')] as const;
  const r = new Router();
  r.get('/admin/clients', ...clients, c.listClients);
  r.post('/admin/clients', ...clients, parseJsonBody, c.createClient);
  r.get('/admin/clients/:id', ...clients, c.getClient);
  r.patch('/admin/clients/:id', ...clients, parseJsonBody, c.updateClient);
  r.post('/admin/clients/:id/disable', ...clients, c.disableClient);
  r.post('/admin/clients/:id/rotate-secret', ...clients, c.rotateClientSecret);
  r.get('/admin/users', ...users, u.listUsers);
  r.post('/admin/users', ...users, parseJsonBody, u.createUser);
  r.get('/admin/users/:id', ...users, u.getUser);
  r.post('/admin/users/:id/disable', ...users, u.disableUser);
  r.post('/admin/users/:id/password', ...users, parseJsonBody, u.setUserPassword);
  r.get('/admin/users/:id/sessions', ...users, u.listUserSessions);
  r.delete('/admin/users/:id/sessions', ...users, u.endUserSessions);
  r.delete('/admin/sessions/:sid', ...users, u.endOneSession);
  r.get('/admin/audit', ...audit, a.listAuditEvents);
  return r;
}

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
  const app = new Koa({ proxy: config.trustProxy });
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
      audit: services.audit,
    }),
    logoutRoutes({ bearer, sessions: services.sessions, denylist: services.denylist, audit: services.audit }),
    adminKeysRoutes({ bearer, keyLifecycle: services.keyLifecycle }),
    adminRoutes(bearer, {
      clientAccounts: services.clientAccounts,
      userAccounts: services.userAccounts,
      sessions: services.sessions,
      audit: services.audit,
    }),
    healthRoutes({ checks: services.readiness, metrics: services.metrics.registry }),
  ];

  app.use(requestLog(services.log));
  app.use(requestMetrics(services.metrics));
  app.use(errorHandler(events));
  app.use(securityHeaders);
  for (const r of routers) {
    app.use(r.routes());
    app.use(r.allowedMethods());
  }
  return app;
}
