import { OAuthError } from '../errors.js';
import type { ClientRecord } from '../stores/types.js';

/** Granted only through client_credentials to clients created with --admin (docs/cli.md, `clients create --admin`). */
export const ADMIN_SCOPE = 'admin';

/**
 * The admin API's scopes (docs/admin.md): `admin` allows everything, each narrower one a single
 * area. Granted only through client_credentials to admin clients, and only when asked for by name.
 */
export const ADMIN_SCOPES = ['admin', 'admin:keys', 'admin:clients', 'admin:users', 'admin:audit'] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];
export const isAdminScope = (scope: string) => scope === ADMIN_SCOPE || scope.startsWith(`${ADMIN_SCOPE}:`);

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export function parseScope(value: string): string[] {
  const tokens = value.split(' ').filter((s) => s !== '');
  if (tokens.length === 0 || tokens.some((t) => !SCOPE_TOKEN.test(t))) {
    throw new OAuthError('invalid_scope', 'the scope parameter is malformed');
  }
  return [...new Set(tokens)];
}

/**
 * RFC 6749 §3.3: the requested scope must lie within `allowed`; omitted → `fallback`.
 * Returns the space-separated granted scope.
 */
export function resolveScope(
  requested: string | undefined,
  allowed: readonly string[],
  fallback: readonly string[],
) {
  if (requested === undefined) return fallback.join(' ');
  const wanted = parseScope(requested);
  const missing = wanted.filter((s) => !allowed.includes(s));
  if (missing.length > 0) {
    throw new OAuthError('invalid_scope', 'the requested scope is not allowed', {
      detail: `not allowed: ${missing}`,
    });
  }
  return wanted.join(' ');
}

/** Scopes a user grant may carry: the client's scopes, never an admin scope. */
export const userScopes = (client: ClientRecord) => client.scopes.filter((s) => !isAdminScope(s));

/** RFC 9068 §2.2 / RFC 7519 §4.1.3: `aud` is a single string for one audience, else a list. */
export const audienceClaim = (audiences: readonly string[]): string | string[] =>
  audiences.length === 1 ? (audiences[0] as string) : [...audiences];

/** The list form of an `aud` value, as a refresh family stores it. */
export const audienceList = (aud: string | string[]): string[] => (typeof aud === 'string' ? [aud] : aud);

/**
 * RFC 8707 §2: `resource` must be an absolute URI without a fragment and, for Tessera, one of the
 * client's registered audiences. Without it the token is for all of the client's audiences.
 */
export function resolveAudience(resource: string | undefined, client: ClientRecord): string | string[] {
  if (resource === undefined) return audienceClaim(client.audiences);
  // RFC 8707 §2: absolute URI, no fragment.
  if (!URL.canParse(resource) || resource.includes('#')) {
    throw new OAuthError('invalid_target', 'resource must be an absolute URI without a fragment');
  }
  if (!client.audiences.includes(resource)) {
    throw new OAuthError('invalid_target', 'the resource is not available to this client');
  }
  return resource;
}

/**
 * RFC 8707 §2 on a later request of the same grant (refresh, code redemption): the audience may
 * only narrow to one of those granted; omitted → all of them.
 */
export function narrowAudience(resource: string | undefined, granted: readonly string[]): string | string[] {
  if (resource === undefined) return audienceClaim(granted);
  if (!granted.includes(resource)) {
    throw new OAuthError('invalid_target', 'the resource is not available to this grant');
  }
  return resource;
}
