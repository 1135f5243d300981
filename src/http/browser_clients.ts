import type { Context, Middleware, Next } from 'koa';
import { OAuthError } from '../errors.js';
import type { ClientRecord, ClientStore } from '../stores/types.js';
import { authenticatedClient } from './client_auth.js';
import { type BrowserCookies, type CookieSpec, clearCookie, readCookie, setCookie } from './cookies.js';
import { params } from './params.js';

/**
 * Cookie mode and CORS for browser apps (docs/browser-apps.md). A cookie-mode client's refresh
 * token travels only in an HttpOnly cookie; requests that carry it, and every request of such a
 * client, must come from one of the client's registered origins; /token, /revoke and /logout answer
 * CORS with credentials for exactly those origins.
 */

/** How long the set of registered origins is trusted: a new client's origin works within this. */
const ORIGINS_TTL_MS = 5000;

/** Headers a browser app may read from an answer (RFC 6750 challenges, rate-limit hints). */
const EXPOSED =
  'WWW-Authenticate, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, DPoP-Nonce';

/** Every origin some client registered, read at most every ORIGINS_TTL_MS (preflights carry no client). */
export class RegisteredOrigins {
  private cached: { origins: Promise<Set<string>>; until: number } | undefined;

  constructor(
    private readonly listClients: () => Promise<ClientRecord[]>,
    private readonly now: () => number = Date.now,
  ) {}

  async has(origin: string): Promise<boolean> {
    if (!this.cached || this.cached.until <= this.now()) {
      const origins = this.listClients().then(
        (clients) => new Set(clients.filter((c) => !c.disabledAt).flatMap((c) => c.allowedOrigins)),
      );
      // A failed read is not cached: the next request tries again.
      origins.catch(() => {
        this.cached = undefined;
      });
      this.cached = { origins, until: this.now() + ORIGINS_TTL_MS };
    }
    return (await this.cached.origins).has(origin);
  }
}

function allowOrigin(ctx: Context, origin: string): void {
  ctx.set('Access-Control-Allow-Origin', origin);
  ctx.set('Access-Control-Allow-Credentials', 'true');
  ctx.set('Access-Control-Expose-Headers', EXPOSED);
}

function withdrawOrigin(ctx: Context): void {
  for (const h of [
    'Access-Control-Allow-Origin',
    'Access-Control-Allow-Credentials',
    'Access-Control-Expose-Headers',
  ])
    ctx.remove(h);
}

/** The answer differs by Origin, so shared caches must key on it (Fetch standard, CORS protocol). */
function varyOnOrigin(ctx: Context): void {
  ctx.vary('Origin');
}

/**
 * CORS preflight (OPTIONS) of /token, /revoke and /logout. A preflight names no client, so any
 * registered origin passes here; the real request is checked against its own client.
 */
export function corsPreflight(origins: RegisteredOrigins): Middleware {
  return async function preflight(ctx: Context): Promise<void> {
    varyOnOrigin(ctx);
    const origin = ctx.get('origin');
    if (!origin || !(await origins.has(origin)))
      throw new OAuthError('invalid_request', 'this origin is not registered', { status: 403 });
    allowOrigin(ctx, origin);
    ctx.set('Access-Control-Allow-Methods', 'POST');
    // DPoP (docs/dpop.md): browser apps send proofs in the DPoP header.
    ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, DPoP');
    // Browsers cap this (Chromium at 2 h); 10 minutes keeps a removed origin from lingering.
    ctx.set('Access-Control-Max-Age', '600');
    ctx.status = 204;
  };
}

/**
 * First step of a browser-callable endpoint: CORS headers for a registered origin, so even an
 * early error (client authentication, a bad body) is readable by the app that caused it.
 */
export function corsResponse(origins: RegisteredOrigins): Middleware {
  return async function cors(ctx: Context, next: Next): Promise<void> {
    varyOnOrigin(ctx);
    const origin = ctx.get('origin');
    if (origin && (await origins.has(origin))) allowOrigin(ctx, origin);
    return next();
  };
}

/**
 * Once the client is known: a request that carries the refresh cookie, or any request of a
 * cookie-mode client, must come from an origin registered for that client (403 invalid_request);
 * other clients' answers are not shared with origins they did not register.
 */
export function checkClientOrigin(ctx: Context, client: ClientRecord, refreshCookie: CookieSpec): void {
  const origin = ctx.get('origin');
  const registered = origin !== '' && client.allowedOrigins.includes(origin);
  if (!registered) withdrawOrigin(ctx);
  const carriesCookie = readCookie(ctx, refreshCookie) !== undefined;
  if ((carriesCookie || client.refreshCookie) && !registered)
    throw new OAuthError('invalid_request', 'this origin is not registered for the client', {
      status: 403,
      detail: origin ? 'unregistered origin' : 'no Origin header',
    });
}

/** After client authentication at /token and /revoke: the origin rule of checkClientOrigin. */
export function requireClientOrigin(refreshCookie: CookieSpec): Middleware {
  return async function clientOrigin(ctx: Context, next: Next): Promise<void> {
    checkClientOrigin(ctx, authenticatedClient(ctx).client, refreshCookie);
    return next();
  };
}

export interface RefreshCookieDeps {
  cookie: CookieSpec;
  /** REFRESH_TOKEN_IDLE_TTL: the cookie lives as long as the token in it may be used. */
  refreshTokenIdleTtl: number;
}

/** The request's parameters with `name` filled from the cookie when the body has none. */
function fillFromCookie(ctx: Context, name: string, cookie: CookieSpec): boolean {
  const p = params(ctx);
  if (p.has(name)) return false;
  const value = readCookie(ctx, cookie);
  if (value === undefined) return false;
  ctx.state.params = new Map([...p, [name, value]]);
  return true;
}

/**
 * /token for cookie-mode clients: the refresh grant reads the cookie when the body has no token;
 * the code and refresh grants' refresh token leaves the body for the cookie; a failed refresh
 * clears the cookie (its token is spent, revoked or expired: keeping it only repeats the failure).
 */
export function refreshCookieMode(deps: RefreshCookieDeps): Middleware {
  return async function refreshCookie(ctx: Context, next: Next): Promise<void> {
    const { client } = authenticatedClient(ctx);
    if (!client.refreshCookie) return next();
    const refreshing = params(ctx).get('grant_type') === 'refresh_token';
    if (refreshing) fillFromCookie(ctx, 'refresh_token', deps.cookie);
    try {
      await next();
    } catch (err) {
      if (refreshing) clearCookie(ctx, deps.cookie);
      throw err;
    }
    const body = ctx.body as { refresh_token?: string } | undefined;
    if (!body?.refresh_token) return;
    setCookie(ctx, deps.cookie, body.refresh_token, client.refreshTokenIdleTtl ?? deps.refreshTokenIdleTtl);
    delete body.refresh_token;
  };
}

/** /revoke for cookie-mode clients: the cookie's token when the body has none, then the cookie goes. */
export function revokeCookieToken(cookie: CookieSpec): Middleware {
  return async function revokeCookie(ctx: Context, next: Next): Promise<void> {
    const { client } = authenticatedClient(ctx);
    const fromCookie = client.refreshCookie && fillFromCookie(ctx, 'token', cookie);
    await next();
    if (fromCookie) clearCookie(ctx, cookie);
  };
}

export interface BrowserLogoutDeps {
  cookies: BrowserCookies;
  clients: Pick<ClientStore, 'findById'>;
  /** The client and session of a refresh token (cookie-only logout names neither). */
  ownerOf(refreshToken: string): Promise<{ clientId: string; sid: string } | undefined>;
  endSession(sid: string): Promise<unknown>;
  endLoginSession(token: string): Promise<void>;
}

/** The login session of /authorize ends with the app's logout when the browser carries it. */
async function endBrowserLogin(ctx: Context, deps: BrowserLogoutDeps): Promise<void> {
  const login = readCookie(ctx, deps.cookies.login);
  if (login === undefined) return;
  await deps.endLoginSession(login);
  clearCookie(ctx, deps.cookies.login);
}

/**
 * /logout from a browser: without a bearer token, the refresh cookie names the session (the access
 * token may have expired); with one, the bearer step below ends it. Either way the request must
 * pass the origin rule, and the refresh and login cookies are cleared.
 */
export function browserLogout(deps: BrowserLogoutDeps): Middleware {
  return async function logoutWithCookie(ctx: Context, next: Next): Promise<void> {
    const token = readCookie(ctx, deps.cookies.refresh);
    if (ctx.get('authorization') !== '' || token === undefined) return next();
    const owner = await deps.ownerOf(token);
    const client = owner && (await deps.clients.findById(owner.clientId));
    // A cookie naming no session is merely stale: clearing it is the whole logout.
    if (owner && client) {
      checkClientOrigin(ctx, client, deps.cookies.refresh);
      await deps.endSession(owner.sid);
    }
    clearCookie(ctx, deps.cookies.refresh);
    await endBrowserLogin(ctx, deps);
    ctx.status = 204;
  };
}

/** After the bearer step of /logout: the origin rule for the token's client, then the cookies go. */
export function clearLogoutCookies(deps: BrowserLogoutDeps): Middleware {
  return async function logoutCookies(ctx: Context, next: Next): Promise<void> {
    const clientId = ctx.state.token?.claims.client_id;
    const client = clientId === undefined ? undefined : await deps.clients.findById(clientId);
    if (client) checkClientOrigin(ctx, client, deps.cookies.refresh);
    await next();
    if (client?.refreshCookie || readCookie(ctx, deps.cookies.refresh) !== undefined)
      clearCookie(ctx, deps.cookies.refresh);
    await endBrowserLogin(ctx, deps);
  };
}
