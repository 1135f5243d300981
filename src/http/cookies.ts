import { parseCookie, stringifySetCookie } from 'cookie';
import type { Context } from 'koa';
import { sha256 } from '../tokens/secrets.js';

/** One cookie Tessera sets: name and attributes are fixed per deployment (docs/browser-apps.md). */
export interface CookieSpec {
  name: string;
  sameSite: 'strict' | 'lax';
  secure: boolean;
}

export interface BrowserCookies {
  /**
   * Cookie mode's refresh token of one client: sent only to same-site requests, never readable by
   * scripts, and named for its client so one app can neither overwrite nor clear another's.
   */
  refresh(clientId: string): CookieSpec;
  /** The login session of /authorize: Lax, so the top-level navigation from the app carries it. */
  login: CookieSpec;
  /** Double-submit CSRF token of the login form. */
  csrf: CookieSpec;
  /** Whether the request carries any cookie Tessera sets (a refresh cookie of any client, or the login session). */
  carriesAny(ctx: Context): boolean;
}

/** RFC 9110 §5.6.2 token characters that are also safe in every browser's cookie-name parser. */
const SAFE_NAME = /^[A-Za-z0-9_-]{1,200}$/;

/**
 * The cookie-name form of a client id. Ids Tessera generates (`c_` + base64url) are used as they
 * are; any other id (a URL, say) becomes `~` + base64url(SHA-256(id)). `~` never occurs in an id
 * used as is, so the two forms cannot collide (docs/browser-apps.md).
 */
export function cookieSafeClientId(clientId: string): string {
  return SAFE_NAME.test(clientId) ? clientId : `~${sha256(clientId)}`;
}

const REFRESH_BASE = 'tessera_rt_';
const LOGIN_BASE = 'tessera_login';

/**
 * Cookie names and attributes for an issuer. Over https every cookie is `Secure` and carries the
 * `__Host-` prefix (RFC 6265bis §4.1.3.2): no subdomain can set or shadow it, and it is bound to
 * Path=/ on this host. Plain-http issuers (local development) cannot use the prefix.
 */
export function browserCookies(issuer: string): BrowserCookies {
  const secure = new URL(issuer).protocol === 'https:';
  const prefix = secure ? '__Host-' : '';
  const login: CookieSpec = { name: `${prefix}${LOGIN_BASE}`, sameSite: 'lax', secure };
  const refreshPrefix = `${prefix}${REFRESH_BASE}`;
  return {
    refresh: (clientId) => ({
      name: `${refreshPrefix}${cookieSafeClientId(clientId)}`,
      sameSite: 'strict',
      secure,
    }),
    login,
    csrf: { name: `${prefix}tessera_csrf`, sameSite: 'strict', secure },
    carriesAny(ctx) {
      const header = ctx.get('cookie');
      if (!header) return false;
      return Object.keys(parseCookie(header)).some(
        (name) => name === login.name || name.startsWith(refreshPrefix),
      );
    },
  };
}

/** Cookie values Tessera sets are base64url; anything else was not set by Tessera and is ignored. */
const VALUE = /^[A-Za-z0-9_-]{16,128}$/;

export function readCookie(ctx: Context, spec: CookieSpec): string | undefined {
  const header = ctx.get('cookie');
  if (!header) return undefined;
  const value = parseCookie(header)[spec.name];
  return value !== undefined && VALUE.test(value) ? value : undefined;
}

/** Appends a Set-Cookie: HttpOnly always (no script reads these), Path=/ (required by `__Host-`). */
export function setCookie(ctx: Context, spec: CookieSpec, value: string, maxAgeSeconds: number): void {
  ctx.append(
    'Set-Cookie',
    stringifySetCookie(spec.name, value, {
      httpOnly: true,
      secure: spec.secure,
      sameSite: spec.sameSite,
      path: '/',
      maxAge: Math.max(0, Math.floor(maxAgeSeconds)),
    }),
  );
}

/** Removes the cookie from the browser: same name and attributes, empty value, Max-Age=0. */
export function clearCookie(ctx: Context, spec: CookieSpec): void {
  ctx.append(
    'Set-Cookie',
    stringifySetCookie(spec.name, '', {
      httpOnly: true,
      secure: spec.secure,
      sameSite: spec.sameSite,
      path: '/',
      maxAge: 0,
      expires: new Date(0),
    }),
  );
}
