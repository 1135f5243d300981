import type { Context, Middleware, Next } from 'koa';
import type { LoginSessions } from '../authorize/login_sessions.js';
import { OAuthError } from '../errors.js';
import { requestStamp } from '../facts/stamp.js';
import { looksLikeRefreshToken } from '../sessions/tokens.js';
import type { AuditStamp, ClientRecord, ClientStore, RefreshTokenStore } from '../stores/types.js';
import { sha256 } from '../tokens/secrets.js';
import { registeredOrigin, shareWithClient } from './browser_cors.js';
import { authenticatedClient } from './client_auth.js';
import { type BrowserCookies, clearCookie, readCookie, setCookie } from './cookies.js';
import { params, supplyParam } from './params.js';
import { requestState } from './request_state.js';

/**
 * Cookie mode for browser apps (docs/browser-apps.md). A cookie-mode client's refresh token
 * travels only in an HttpOnly cookie named for that client; a request that carries any Tessera
 * cookie, and every request of a cookie-mode client, must come from an origin registered for the
 * client the request names. CORS itself lives in browser_cors.ts.
 */

/**
 * Once the client is known: its origins get the answer (browser_cors.ts), and a request that
 * carries any Tessera cookie (a refresh cookie of any client, or the login session), or any
 * request of a cookie-mode client, must come from an origin registered for that client (403
 * invalid_request). The cookies are ambient: without this, any page could spend them.
 */
export function checkClientOrigin(
  ctx: Context,
  client: ClientRecord | undefined,
  cookies: BrowserCookies,
): void {
  shareWithClient(ctx, client);
  if (registeredOrigin(ctx, client) !== undefined) return;
  if (!cookies.carriesAny(ctx) && !client?.refreshCookie) return;
  const origin = ctx.get('origin');
  throw new OAuthError(
    'invalid_request',
    client ? 'this origin is not registered for the client' : 'client_id must name the app',
    {
      status: 403,
      detail: !client ? 'no client named' : origin ? 'unregistered origin' : 'no Origin header',
    },
  );
}

/** After client authentication at /token and /revoke: the origin rule of checkClientOrigin. */
export function requireClientOrigin(cookies: BrowserCookies): Middleware {
  return async function clientOrigin(ctx: Context, next: Next): Promise<void> {
    checkClientOrigin(ctx, authenticatedClient(ctx).client, cookies);
    return next();
  };
}

export interface RefreshCookieDeps {
  cookies: BrowserCookies;
  /** REFRESH_TOKEN_IDLE_TTL: the cookie lives as long as the token in it may be used. */
  refreshTokenIdleTtl: number;
}

/** The request's parameters with `name` filled from the client's cookie when the body has none. */
function fillFromCookie(ctx: Context, name: string, client: ClientRecord, cookies: BrowserCookies): boolean {
  const p = params(ctx);
  if (p.has(name)) return false;
  const value = readCookie(ctx, cookies.refresh(client.id));
  if (value === undefined) return false;
  supplyParam(ctx, name, value);
  return true;
}

/**
 * /token for cookie-mode clients: the refresh grant reads the client's own cookie when the body
 * has no token; the code and refresh grants' refresh token leaves the body for that cookie; a
 * failed refresh clears it (its token is spent, revoked or expired: keeping it only repeats the
 * failure). Another client's cookie is never read, set or cleared here.
 */
export function refreshCookieMode(deps: RefreshCookieDeps): Middleware {
  return async function refreshCookie(ctx: Context, next: Next): Promise<void> {
    const { client } = authenticatedClient(ctx);
    if (!client.refreshCookie) return next();
    const cookie = deps.cookies.refresh(client.id);
    const refreshing = params(ctx).get('grant_type') === 'refresh_token';
    if (refreshing) fillFromCookie(ctx, 'refresh_token', client, deps.cookies);
    try {
      await next();
    } catch (err) {
      if (refreshing) clearCookie(ctx, cookie);
      throw err;
    }
    const body = ctx.body as { refresh_token?: string } | undefined;
    if (!body?.refresh_token) return;
    setCookie(ctx, cookie, body.refresh_token, client.refreshTokenIdleTtl ?? deps.refreshTokenIdleTtl);
    delete body.refresh_token;
  };
}

/** /revoke for cookie-mode clients: the client's cookie when the body has no token, then it goes. */
export function revokeCookieToken(cookies: BrowserCookies): Middleware {
  return async function revokeCookie(ctx: Context, next: Next): Promise<void> {
    const { client } = authenticatedClient(ctx);
    const fromCookie = client.refreshCookie && fillFromCookie(ctx, 'token', client, cookies);
    await next();
    if (fromCookie) clearCookie(ctx, cookies.refresh(client.id));
  };
}

export interface BrowserLogoutDeps {
  cookies: BrowserCookies;
  clients: Pick<ClientStore, 'findById'>;
  /** The session a refresh cookie names, ended (and audited) like a logout with a bearer token. */
  refreshTokens: Pick<RefreshTokenStore, 'findByHash' | 'revokeFamily'>;
  /** The login session of /authorize: its `session.ended` is audited with the request's stamp too. */
  loginSessions: Pick<LoginSessions, 'end'>;
}

/**
 * The browser's side of a logout, once the origin rule passed for `client`: its own refresh
 * cookie goes, and the login session of /authorize ends when the browser sent its cookie (it
 * does only for same-site requests: SameSite=Lax). Other clients' cookies stay.
 */
async function clearBrowserSide(
  ctx: Context,
  client: ClientRecord | undefined,
  stamp: AuditStamp,
  deps: BrowserLogoutDeps,
) {
  if (client) {
    const refresh = deps.cookies.refresh(client.id);
    if (client.refreshCookie || readCookie(ctx, refresh) !== undefined) clearCookie(ctx, refresh);
  }
  const login = readCookie(ctx, deps.cookies.login);
  if (login === undefined) return;
  await deps.loginSessions.end(login, 'logout', stamp);
  clearCookie(ctx, deps.cookies.login);
}

/**
 * /logout from a browser without a bearer token (the access token may have expired): `client_id`
 * names the app, whose refresh cookie names the session to end. A request carrying no Tessera
 * cookie goes on to the bearer step (and its 401).
 */
export function browserLogout(deps: BrowserLogoutDeps): Middleware {
  return async function logoutWithCookie(ctx: Context, next: Next): Promise<void> {
    if (ctx.get('authorization') !== '' || !deps.cookies.carriesAny(ctx)) return next();
    const clientId = params(ctx).get('client_id');
    const client =
      clientId === undefined || clientId.length > 256 ? undefined : await deps.clients.findById(clientId);
    // Refuses a request naming no client: it carries a Tessera cookie, and no Origin is registered.
    checkClientOrigin(ctx, client, deps.cookies);
    const token = client && readCookie(ctx, deps.cookies.refresh(client.id));
    const owner =
      token !== undefined && looksLikeRefreshToken(token)
        ? (await deps.refreshTokens.findByHash(sha256(token)))?.family
        : undefined;
    // The origin rule passed, so `client` is the app the browser named: the actor of the logout.
    const stamp = requestStamp(ctx, client?.id ?? clientId ?? '');
    // A cookie naming no session of this client is merely stale: clearing it is the whole logout.
    if (owner && owner.clientId === client?.id)
      await deps.refreshTokens.revokeFamily(owner.id, { reason: 'logout', audit: stamp });
    await clearBrowserSide(ctx, client, stamp, deps);
    ctx.status = 204;
  };
}

/**
 * After the bearer step of /logout: the token's client is the one named (a different `client_id`
 * is invalid_request); the origin rule for it, then, once the session ended, the browser's side.
 */
export function clearLogoutCookies(deps: BrowserLogoutDeps): Middleware {
  return async function logoutCookies(ctx: Context, next: Next): Promise<void> {
    const clientId = requestState(ctx).token?.claims.client_id;
    const named = params(ctx).get('client_id');
    if (named !== undefined && named !== clientId)
      throw new OAuthError('invalid_request', 'client_id is not the client of the access token');
    const client = clientId === undefined ? undefined : await deps.clients.findById(clientId);
    checkClientOrigin(ctx, client, deps.cookies);
    await next();
    await clearBrowserSide(ctx, client, requestStamp(ctx, clientId ?? ''), deps);
  };
}
