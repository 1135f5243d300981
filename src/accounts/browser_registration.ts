import type { GrantType } from '../stores/types.js';

/** Why a client's browser or mobile registration is refused (one line, shown by the CLI and admin API). */
export class RegistrationError extends Error {}

/** RFC 8252 §8.3: loopback hosts, the only ones allowed plain http (native and local development). */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Schemes a redirect URI may never use: they run code or carry content instead of navigating. */
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:']);

/**
 * A redirect URI a client may register (RFC 6749 §3.1.2, RFC 9700 §2.1, RFC 8252 §7): an absolute
 * URI without a fragment, compared later byte for byte (loopback IP URIs: any port, see
 * redirectUriMatches); https, http on a loopback host, or a
 * private-use scheme in reverse-domain form (`com.example.app:/callback`) for native apps.
 */
export function checkRedirectUri(uri: string): string {
  if (!URL.canParse(uri)) throw new RegistrationError(`redirect URI "${uri}" is not an absolute URI`);
  const url = new URL(uri);
  if (uri.includes('#')) throw new RegistrationError(`redirect URI "${uri}" must not have a fragment`);
  if (url.protocol === 'https:') return uri;
  if (url.protocol === 'http:') {
    if (LOOPBACK.has(url.hostname)) return uri;
    throw new RegistrationError(`redirect URI "${uri}": plain http is allowed only on loopback hosts`);
  }
  // RFC 8252 §7.1: private-use schemes are reverse domain names, so they contain a dot.
  if (!FORBIDDEN_SCHEMES.has(url.protocol) && /^[a-z][a-z0-9+-]*\.[a-z0-9+.-]+:$/.test(url.protocol))
    return uri;
  throw new RegistrationError(
    `redirect URI "${uri}" must use https, http on a loopback host, or a reverse-domain private-use scheme`,
  );
}

/**
 * A web origin (RFC 6454): scheme, host and port only, exactly as browsers send it in `Origin`
 * (no trailing slash, no default port). https, or http on a loopback host.
 */
export function checkOrigin(origin: string): string {
  if (!URL.canParse(origin)) throw new RegistrationError(`origin "${origin}" is not a URL`);
  const url = new URL(origin);
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  if (!secure) throw new RegistrationError(`origin "${origin}" must use https (or http on a loopback host)`);
  if (url.origin !== origin)
    throw new RegistrationError(
      `origin "${origin}" must be exactly scheme://host[:port], e.g. "${url.origin}"`,
    );
  return origin;
}

/**
 * A loopback IP redirect URI split into the parts compared (RFC 8252 §7.3): host, port, and the
 * rest (path and query) as written. `localhost` is not one: RFC 8252 §8.3 advises against it,
 * and it may resolve elsewhere, so it is compared exactly like any other URI.
 */
const LOOPBACK_IP_URI = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::([0-9]{1,5}))?([/?][^#]*)?$/;

function loopbackParts(uri: string) {
  const m = LOOPBACK_IP_URI.exec(uri);
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { host: m[1] as string, rest: m[3] ?? '' };
}

/**
 * Whether a presented redirect URI matches a registered one: byte for byte (RFC 9700 §2.1), except
 * that a loopback IP URI may carry any port (RFC 8252 §7.3: native apps listen on an ephemeral
 * port); its scheme, host, path and query must still be exactly the registered ones.
 */
export function redirectUriMatches(registered: string, presented: string): boolean {
  if (registered === presented) return true;
  const want = loopbackParts(registered);
  const got = want && loopbackParts(presented);
  return got !== undefined && want?.host === got.host && want.rest === got.rest;
}

export interface BrowserRegistrationInput {
  grantTypes: GrantType[];
  redirectUris?: string[];
  allowedOrigins?: string[];
  refreshCookie?: boolean;
}

/** Validates the browser and mobile fields of a client together with its grants. */
export function browserRegistration(input: BrowserRegistrationInput) {
  const redirectUris = [...new Set(input.redirectUris ?? [])].map(checkRedirectUri);
  const allowedOrigins = [...new Set(input.allowedOrigins ?? [])].map(checkOrigin);
  const refreshCookie = input.refreshCookie ?? false;
  const usesCode = input.grantTypes.includes('authorization_code');
  if (usesCode && redirectUris.length === 0)
    throw new RegistrationError('the authorization_code grant needs at least one --redirect-uri');
  if (!usesCode && redirectUris.length > 0)
    throw new RegistrationError('--redirect-uri needs the authorization_code grant');
  if (refreshCookie) {
    if (allowedOrigins.length === 0)
      throw new RegistrationError('--refresh-cookie needs at least one --origin (the browser app)');
    if (!input.grantTypes.includes('refresh_token'))
      throw new RegistrationError('--refresh-cookie needs the refresh_token grant');
  }
  return { redirectUris, allowedOrigins, refreshCookie };
}
