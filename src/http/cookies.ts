import { parseCookie, stringifySetCookie } from 'cookie';
import type { Context } from 'koa';

/** One cookie Tessera sets: name and attributes are fixed per deployment (docs/browser-apps.md). */
export interface CookieSpec {
  name: string;
  sameSite: 'strict' | 'lax';
  secure: boolean;
}

export interface BrowserCookies {
  /** Cookie mode's refresh token: sent only to same-site requests, never readable by scripts. */
  refresh: CookieSpec;
  /** The login session of /authorize: Lax, so the top-level navigation from the app carries it. */
  login: CookieSpec;
  /** Double-submit CSRF token of the login form. */
  csrf: CookieSpec;
}

/**
 * Cookie names and attributes for an issuer. Over https every cookie is `Secure` and carries the
 * `__Host-` prefix (RFC 6265bis §4.1.3.2): no subdomain can set or shadow it, and it is bound to
 * Path=/ on this host. Plain-http issuers (local development) cannot use the prefix.
 */
export function browserCookies(issuer: string): BrowserCookies {
  const secure = new URL(issuer).protocol === 'https:';
  const named = (base: string) => (secure ? `__Host-${base}` : base);
  return {
    refresh: { name: named('tessera_rt'), sameSite: 'strict', secure },
    login: { name: named('tessera_login'), sameSite: 'lax', secure },
    csrf: { name: named('tessera_csrf'), sameSite: 'strict', secure },
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
