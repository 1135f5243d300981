import type { Context, Middleware, Next } from 'koa';
import { OAuthError } from '../errors.js';
import type { ClientRecord } from '../stores/types.js';
import { type CookieSpec, clearCookie, readCookie, setCookie } from './cookies.js';

/**
 * Cookie mode and CORS for browser apps (docs/browser-apps.md). A cookie-mode client's refresh
 * token travels only in an HttpOnly cookie; requests that carry it, and every request of such a
 * client, must come from one of the client's registered origins; /token, /revoke and /logout answer
 * CORS with credentials for exactly those origins.
 */

/** How long the set of registered origins is trusted: a new client's origin works within this. */
const ORIGINS_TTL_MS = 5000;

/** Headers a browser app may read from an answer (RFC 6750 challenges, rate-limit hints). */
const EXPOSED = 'WWW-Authenticate, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset';

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
    ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
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

export interface RefreshCookieDeps {
  cookie: CookieSpec;
  /** REFRESH_TOKEN_IDLE_TTL: the cookie lives as long as the token in it may be used. */
  refreshTokenIdleTtl: number;
}

/** The refresh token a cookie-mode request presents: the body's, else the cookie's. */
export function presentedRefreshToken(ctx: Context, body: string | undefined, cookie: CookieSpec) {
  return body ?? readCookie(ctx, cookie);
}

/** After a code or refresh grant: a cookie-mode client's refresh token moves from the body to the cookie. */
export function moveRefreshTokenToCookie(ctx: Context, client: ClientRecord, deps: RefreshCookieDeps): void {
  const body = ctx.body as { refresh_token?: string } | undefined;
  if (!client.refreshCookie || !body?.refresh_token) return;
  setCookie(ctx, deps.cookie, body.refresh_token, client.refreshTokenIdleTtl ?? deps.refreshTokenIdleTtl);
  delete body.refresh_token;
}

export function clearRefreshCookie(ctx: Context, cookie: CookieSpec): void {
  clearCookie(ctx, cookie);
}
