import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { LoginSessions } from './authorize/login_sessions.js';
import type { Config, DeploymentMode } from './config.js';
import { adminConsentSteps } from './consent/admin_steps.js';
import type { Consents } from './consent/consents.js';
import type { DpopNonces } from './dpop/nonce.js';
import type { DpopProofVerifier } from './dpop/proof.js';
import { checkDpopProof } from './dpop/token_proof.js';
import { adminAuditSteps, adminSessionSteps } from './endpoints/admin.js';
import { adminClientSteps, type ClientAdminOperations } from './endpoints/admin_clients.js';
import { listKeys, revokeKey, rotateKeys } from './endpoints/admin_keys.js';
import { adminUserSteps, type UserAccounts, type UserAdminOperations } from './endpoints/admin_users.js';
import {
  type AuthorizeEndpointDeps,
  answerAuthorization,
  authorizeErrors,
  decideConsent,
  readAuthorizationRequest,
  signIn,
} from './endpoints/authorize.js';
import { serveJwks, serveMetadata } from './endpoints/discovery.js';
import { type Drain, liveness, type ReadinessCheck, readiness, serveMetrics } from './endpoints/health.js';
import { introspectToken, requireIntrospectFlag } from './endpoints/introspect.js';
import { endSession } from './endpoints/logout.js';
import { echoClaims } from './endpoints/me.js';
import { revokeToken } from './endpoints/revoke.js';
import { checkGrant } from './endpoints/token.js';
import type { EventBus } from './events.js';
import type { FactSink } from './facts/publisher.js';
import { requestStamp } from './facts/stamp.js';
import { type GrantRegistry, supportedGrantTypes } from './grants/registry.js';
import { ADMIN_SCOPES } from './grants/scope.js';
import { requireAdminScope, requireBearer } from './http/bearer.js';
import {
  type BrowserLogoutDeps,
  browserLogout,
  clearLogoutCookies,
  refreshCookieMode,
  requireClientOrigin,
  revokeCookieToken,
} from './http/browser_clients.js';
import {
  corsForBearerClient,
  corsForNamedClient,
  corsPreflight,
  RegisteredOrigins,
} from './http/browser_cors.js';
import { authenticateClient, authenticatedClient } from './http/client_auth.js';
import { browserCookies } from './http/cookies.js';
import { readAuthorizeInput, readJsonBody, readJsonOrFormBody, readNoBody } from './http/input.js';
import type { LimiterFactory } from './http/limiter_store.js';
import { noCache } from './http/no_cache.js';
import { params, parseParams } from './http/params.js';
import type { RateLimits } from './http/rate_limits.js';
import { requestState } from './http/request_state.js';
import type { KeyRing } from './keys/keyring.js';
import type { KeyLifecycle } from './keys/lifecycle.js';
import type { CredentialDeps } from './login/credentials.js';
import type { Metrics } from './observability.js';
import { registrationSteps } from './registration/endpoint.js';
import type { Registrations } from './registration/registrations.js';
import type {
  AuditStore,
  AuthorizationCodeStore,
  ClientStore,
  Denylist,
  LoginSessionStore,
  RefreshTokenInspector,
  RefreshTokenStore,
  UserStore,
} from './stores/types.js';
import type { AccessTokenVerifier } from './tokens/access_token.js';

/** What the HTTP API needs: the parts of the composition root it uses, nothing that opens a backend. */
export interface RouteDeps {
  config: Pick<
    Config,
    'issuer' | 'jwksMaxAge' | 'authorizationCodeTtl' | 'refreshTokenIdleTtl' | 'thirdParty' | 'rateLimits'
  > &
    Partial<Pick<Config, 'opsPort' | 'dpopNonce'>>;
  events: EventBus;
  metrics: Metrics;
  now: () => number;
  /** The hot-path reader (cached, metadata documents): authentication, CORS, /authorize. */
  clients: ClientStore;
  /** The client table, for the lists of every client (discovery, registered origins). */
  clientTable: Pick<ClientStore, 'list'>;
  refreshInspector: RefreshTokenInspector;
  denylist: Denylist;
  rateLimits: Pick<RateLimits, 'perClient'>;
  readiness: ReadinessCheck[];
  /** Set on SIGTERM: /readyz answers 503 while requests drain (src/main.ts). */
  drain?: Drain;
  /** Where the shared state lives, for /readyz. */
  mode: DeploymentMode;
  verifier: AccessTokenVerifier;
  /** Refresh families: how sessions end (the store audits, denylists and publishes). */
  refreshTokens: RefreshTokenStore;
  loginSessionStore: LoginSessionStore;
  grants: GrantRegistry;
  users: UserStore;
  /** The one credentials check of the password grant and the login page. */
  credentials: CredentialDeps;
  authorizationCodes: AuthorizationCodeStore;
  loginSessions: LoginSessions;
  keys: KeyRing;
  keyLifecycle: Pick<KeyLifecycle, 'list' | 'rotate' | 'revoke'>;
  clientAccounts: ClientAdminOperations;
  userAccounts: UserAdminOperations & Pick<UserAccounts, 'resolve'>;
  /** The audit trail's store (GET /admin/audit pages it). */
  auditEvents: AuditStore;
  /** The writer of facts without a transaction (src/facts/publisher.ts). */
  facts: FactSink;
  dpopProofs: DpopProofVerifier;
  dpopNonces: DpopNonces;
  /** Third-party clients (docs/mcp.md). */
  consents: Consents;
  registrations: Registrations;
  limiters: LimiterFactory;
}

/** Every scope a client may ask for: the admin scopes, THIRD_PARTY_SCOPES and every client's scopes. */
function knownScopes(clients: Pick<ClientStore, 'list'>, thirdParty: readonly string[]) {
  return async () => {
    const scopes = new Set<string>([...ADMIN_SCOPES, ...thirdParty]);
    for (const c of await clients.list()) for (const s of c.scopes) scopes.add(s);
    return [...scopes].sort();
  };
}

/**
 * /token's second routing key is `grant_type` (RFC 6749 §4): checkGrant (src/endpoints/token.ts)
 * chose the grant module, and this step of the route table hands it the request; its RFC 6749
 * §5.1 answer is the response body. No layer sits between the table and the grant.
 */
async function runGrant(ctx: Context): Promise<void> {
  const { grant, dpop } = requestState(ctx);
  if (!grant) throw new Error('checkGrant must run first');
  const { client } = authenticatedClient(ctx);
  ctx.body = await grant.handle({
    client,
    params: params(ctx),
    ip: ctx.ip,
    stamp: requestStamp(ctx, client.id),
    // Set by checkDpopProof (src/dpop/token_proof.ts) when the request carried a valid proof.
    ...(dpop ? { dpop } : {}),
  });
}

/** The steps of the code flow and of browser apps (docs/browser-apps.md). */
function browserSteps(d: RouteDeps) {
  const { config, events } = d;
  const cookies = browserCookies(config.issuer);
  const origins = new RegisteredOrigins(() => d.clientTable.list(), d.now);
  const authorize: AuthorizeEndpointDeps = {
    issuer: config.issuer,
    clients: d.clients,
    loginSessions: d.loginSessions,
    codes: { store: d.authorizationCodes, ttl: config.authorizationCodeTtl, now: d.now },
    credentials: d.credentials,
    cookies,
    events,
    consents: d.consents,
  };
  const logout: BrowserLogoutDeps = {
    cookies,
    clients: d.clients,
    refreshTokens: d.refreshTokens,
    loginSessions: d.loginSessions,
  };
  return {
    authorizeErrors: authorizeErrors(authorize),
    readAuthorizationRequest: readAuthorizationRequest(authorize),
    answerAuthorization: answerAuthorization(authorize),
    signIn: signIn(authorize),
    decideConsent: decideConsent(authorize),
    corsPreflight: corsPreflight(origins, { methods: 'POST', credentials: true }),
    corsPreflightBearer: corsPreflight(origins, { methods: 'GET', credentials: false }),
    corsForNamedClient: corsForNamedClient(d.clients),
    corsForBearerClient: corsForBearerClient(d.clients),
    requireClientOrigin: requireClientOrigin(cookies),
    refreshCookieMode: refreshCookieMode({ cookies, refreshTokenIdleTtl: config.refreshTokenIdleTtl }),
    revokeCookieToken: revokeCookieToken(cookies),
    browserLogout: browserLogout(logout),
    clearLogoutCookies: clearLogoutCookies(logout),
  } satisfies Record<string, Middleware>;
}

/** The named steps the route table composes; each is built once from its narrow dependencies. */
export function steps(d: RouteDeps) {
  const { config, events } = d;
  return {
    authenticateClient: authenticateClient({ clients: d.clients, events }),
    requireBearer: requireBearer({
      verifier: d.verifier,
      events,
      proofs: d.dpopProofs,
      issuer: config.issuer,
    }),
    // docs/admin.md: `admin` or the area's own scope.
    requireKeysScope: requireAdminScope('admin:keys'),
    requireClientsScope: requireAdminScope('admin:clients'),
    requireUsersScope: requireAdminScope('admin:users'),
    requireAuditScope: requireAdminScope('admin:audit'),
    ...adminClientSteps(d),
    ...adminUserSteps(d),
    ...adminSessionSteps(d),
    ...adminAuditSteps(d),
    ...adminConsentSteps(d),
    ...registrationSteps({
      registrations: d.registrations,
      limiter: d.limiters,
      perIpHour: config.thirdParty.registrationsPerIpHour,
      ipv6Prefix: config.rateLimits.ipv6Prefix,
      events,
    }),
    limitTokenRequests: d.rateLimits.perClient('token'),
    limitIntrospectRequests: d.rateLimits.perClient('introspect'),
    checkGrant: checkGrant(d.grants),
    checkDpopProof: checkDpopProof({
      proofs: d.dpopProofs,
      nonces: d.dpopNonces,
      requireNonce: config.dpopNonce ?? false,
      issuer: config.issuer,
    }),
    introspectToken: introspectToken({
      verifier: d.verifier,
      liveRefreshTokens: d.refreshInspector,
      issuer: config.issuer,
      now: d.now,
      events,
    }),
    revokeToken: revokeToken({ refreshTokens: d.refreshTokens, verifier: d.verifier, facts: d.facts }),
    endSession: endSession({ refreshTokens: d.refreshTokens, facts: d.facts }),
    serveJwks: serveJwks({ keys: d.keys, jwksMaxAge: config.jwksMaxAge }),
    serveMetadata: serveMetadata({
      issuer: config.issuer,
      keys: d.keys,
      jwksMaxAge: config.jwksMaxAge,
      grantTypes: () => supportedGrantTypes(d.grants),
      scopes: knownScopes(d.clientTable, config.thirdParty.scopes),
      registrationEndpoint: config.thirdParty.registration !== 'off',
      metadataDocuments: config.thirdParty.metadataDocuments,
      signingAlgs: () => d.keys.current().algorithms,
    }),
    listKeys: listKeys(d),
    rotateKeys: rotateKeys(d),
    revokeKey: revokeKey(d),
    readiness: readiness(d.readiness, d.mode, d.drain),
    serveMetrics: serveMetrics(d.metrics.registry),
    ...browserSteps(d),
  } satisfies Record<string, Middleware>;
}

/**
 * The route table: every `METHOD path → steps` of the public and admin API, on one router.
 * Endpoints read like their RFC (node-oidc-provider's chains); a new route is one line here.
 */
// biome-ignore format: one route per line keeps the table readable at a glance
export function routes(deps: RouteDeps, built?: ReturnType<typeof steps>): Router {
  const s = built ?? steps(deps);
  const router = new Router();

  // RFC 6749 §4.1 with PKCE (RFC 7636) and RFC 9207: the login page, errors as page or redirect.
  router.get('/authorize', noCache, s.authorizeErrors, readAuthorizeInput, s.readAuthorizationRequest, s.answerAuthorization);
  router.post('/authorize', noCache, s.authorizeErrors, readAuthorizeInput, s.readAuthorizationRequest, s.signIn);
  router.post('/authorize/consent', noCache, s.authorizeErrors, readAuthorizeInput, s.readAuthorizationRequest, s.decideConsent);
  // RFC 6749 §3.2, §5; per-client limits after authentication so nobody spends another's budget.
  router.post('/token', noCache, parseParams, s.corsForNamedClient, s.authenticateClient, s.requireClientOrigin, s.limitTokenRequests, s.checkGrant, s.checkDpopProof, s.refreshCookieMode, runGrant);
  // RFC 7662 §2
  router.post('/introspect', noCache, parseParams, s.authenticateClient, s.limitIntrospectRequests, requireIntrospectFlag, s.introspectToken);
  // RFC 7009 §2
  router.post('/revoke', noCache, parseParams, s.corsForNamedClient, s.authenticateClient, s.requireClientOrigin, s.revokeCookieToken, s.revokeToken);
  // RFC 6750 protected resources
  router.get('/me', noCache, readNoBody, s.requireBearer, s.corsForBearerClient, echoClaims);
  router.post('/logout', noCache, parseParams, s.corsForNamedClient, s.browserLogout, s.requireBearer, s.clearLogoutCookies, s.endSession);
  // CORS preflights of the endpoints browser apps call (registered origins only; docs/browser-apps.md)
  for (const path of ['/token', '/revoke', '/logout']) router.options(path, readNoBody, s.corsPreflight);
  router.options('/me', readNoBody, s.corsPreflightBearer);
  // RFC 8414, RFC 7517
  router.get('/.well-known/oauth-authorization-server', readNoBody, s.serveMetadata);
  router.get('/.well-known/jwks.json', readNoBody, s.serveJwks);
  // Admin API (docs/admin.md): a bearer token with `admin` or the area's scope, checked on every line
  router.get('/admin/keys', noCache, readNoBody, s.requireBearer, s.requireKeysScope, s.listKeys);
  router.post('/admin/keys/rotate', noCache, readJsonOrFormBody, s.requireBearer, s.requireKeysScope, s.rotateKeys);
  router.post('/admin/keys/:kid/revoke', noCache, readNoBody, s.requireBearer, s.requireKeysScope, s.revokeKey);
  router.get('/admin/clients', noCache, readNoBody, s.requireBearer, s.requireClientsScope, s.listClients);
  router.post('/admin/clients', noCache, readJsonBody, s.requireBearer, s.requireClientsScope, s.createClient);
  router.get('/admin/clients/:id', noCache, readNoBody, s.requireBearer, s.requireClientsScope, s.getClient);
  router.patch('/admin/clients/:id', noCache, readJsonBody, s.requireBearer, s.requireClientsScope, s.updateClient);
  router.post('/admin/clients/:id/disable', noCache, readNoBody, s.requireBearer, s.requireClientsScope, s.disableClient);
  router.post('/admin/clients/:id/rotate-secret', noCache, readNoBody, s.requireBearer, s.requireClientsScope, s.rotateClientSecret);
  router.get('/admin/users', noCache, readNoBody, s.requireBearer, s.requireUsersScope, s.listUsers);
  router.post('/admin/users', noCache, readJsonBody, s.requireBearer, s.requireUsersScope, s.createUser);
  router.get('/admin/users/:id', noCache, readNoBody, s.requireBearer, s.requireUsersScope, s.getUser);
  router.post('/admin/users/:id/disable', noCache, readNoBody, s.requireBearer, s.requireUsersScope, s.disableUser);
  router.post('/admin/users/:id/password', noCache, readJsonBody, s.requireBearer, s.requireUsersScope, s.setUserPassword);
  router.get('/admin/users/:id/sessions', noCache, readNoBody, s.requireBearer, s.requireUsersScope, s.listUserSessions);
  router.delete('/admin/users/:id/sessions', noCache, readNoBody, s.requireBearer, s.requireUsersScope, s.endUserSessions);
  router.delete('/admin/sessions/:sid', noCache, readNoBody, s.requireBearer, s.requireUsersScope, s.endOneSession);
  router.get('/admin/audit', noCache, readNoBody, s.requireBearer, s.requireAuditScope, s.listAuditEvents);
  router.get('/admin/users/:id/consents', noCache, readNoBody, s.requireBearer, s.requireUsersScope, s.listUserConsents);
  router.delete('/admin/users/:id/consents/:client_id', noCache, readNoBody, s.requireBearer, s.requireUsersScope, s.revokeUserConsent);
  // RFC 7591 / RFC 7592 (docs/mcp.md): absent, so 404, while CLIENT_REGISTRATION=off
  const registration = deps.config.thirdParty.registration;
  if (registration !== 'off') {
    const initialAccess = registration === 'token' ? [s.requireBearer, s.requireClientsScope] : [];
    router.post('/register', noCache, readJsonBody, s.limitRegistrations, ...initialAccess, s.registerClient);
    router.get('/register/:client_id', noCache, readNoBody, s.readRegistration);
    router.put('/register/:client_id', noCache, readJsonBody, s.updateRegistration);
    router.delete('/register/:client_id', noCache, readNoBody, s.deleteRegistration);
  }
  // Operations; with OPS_PORT, /metrics is served only there (opsRoutes), health on both.
  router.get('/healthz', readNoBody, liveness);
  router.get('/readyz', readNoBody, s.readiness);
  if (deps.config.opsPort === undefined) router.get('/metrics', readNoBody, s.serveMetrics);
  return router;
}

/** The OPS_PORT listener: health for load balancers, metrics for monitoring, nothing else. */
export function opsRoutes(deps: Pick<RouteDeps, 'readiness' | 'drain' | 'metrics' | 'mode'>): Router {
  const router = new Router();
  router.get('/healthz', readNoBody, liveness);
  router.get('/readyz', readNoBody, readiness(deps.readiness, deps.mode, deps.drain));
  router.get('/metrics', readNoBody, serveMetrics(deps.metrics.registry));
  return router;
}
