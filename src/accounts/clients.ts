import { OAuthError } from '../errors.js';
import { isAdminScope, parseScope } from '../grants/scope.js';
import { type ClientRecord, GRANT_TYPES, type GrantType } from '../stores/types.js';
import { browserRegistration, RegistrationError } from './browser_registration.js';
import { AccountError } from './users.js';

/**
 * The rules of a client's record (docs/admin.md, docs/cli.md): what a name, grants, scopes,
 * audiences and browser fields may be, and the public view of a client. No I/O: the operations
 * that apply them live with the admin API (src/endpoints/admin_clients.ts), which the CLI and the
 * seed share.
 */

export interface NewClientInput {
  name: string;
  grantTypes?: GrantType[];
  scopes?: string[];
  audiences?: string[];
  isPublic?: boolean;
  canIntrospect?: boolean;
  isAdmin?: boolean;
  /** Exact redirect URIs of the authorization code flow (RFC 6749 §3.1.2). */
  redirectUris?: string[];
  /** Browser origins allowed to call /token, /revoke and /logout with credentials. */
  allowedOrigins?: string[];
  /** Cookie mode: the refresh token only in an HttpOnly cookie (docs/browser-apps.md). */
  refreshCookie?: boolean;
  /** RFC 9449 §5.2: every token request must carry a DPoP proof (docs/dpop.md). */
  dpopBoundAccessTokens?: boolean;
}

/** What PATCH /admin/clients/{id} may change; absent fields stay as they are. */
export interface ClientUpdateInput {
  name?: string;
  grantTypes?: GrantType[];
  scopes?: string[];
  audiences?: string[];
  redirectUris?: string[];
  allowedOrigins?: string[];
  refreshCookie?: boolean;
  dpopBoundAccessTokens?: boolean;
}

/** The admin API field a browser-registration refusal is about (its message names it in words). */
const registrationField = (message: string) =>
  message.includes('origin')
    ? 'allowed_origins'
    : message.includes('cookie')
      ? 'refresh_cookie'
      : 'redirect_uris';

/** Browser fields checked together with the grants (docs/browser-apps.md), as a validation error. */
export function checkBrowser(input: Parameters<typeof browserRegistration>[0]) {
  try {
    return browserRegistration(input);
  } catch (err) {
    if (err instanceof RegistrationError)
      throw new AccountError('invalid', err.message, registrationField(err.message));
    throw err;
  }
}

/** A client's default grants (docs/cli.md, `clients create`). */
export const DEFAULT_GRANTS: GrantType[] = ['password', 'refresh_token'];
/** Least privilege: a client asks for more scopes only when created with them. */
export const DEFAULT_SCOPES = ['read'];

/** The public view of a client (never the secret or its hash). */
export function describeClient(c: ClientRecord) {
  return {
    client_id: c.id,
    name: c.name,
    public: c.secretHash === null,
    grant_types: c.grantTypes,
    scopes: c.scopes,
    audiences: c.audiences,
    default_audience: c.audienceIsDefault,
    introspect: c.canIntrospect,
    admin: c.isAdmin,
    redirect_uris: c.redirectUris,
    allowed_origins: c.allowedOrigins,
    refresh_cookie: c.refreshCookie,
    dpop_bound_access_tokens: c.dpopBoundAccessTokens,
    disabled: c.disabledAt !== null,
    created_at: c.createdAt.toISOString(),
  };
}

export function checkName(raw: string): string {
  const name = raw.trim();
  if (name === '' || name.length > 200)
    throw new AccountError('invalid', 'name must be 1-200 characters', 'name');
  return name;
}

export function checkGrants(grants: GrantType[], isPublic: boolean): GrantType[] {
  const grantTypes = [...new Set(grants)];
  const unknown = grantTypes.find((g) => !GRANT_TYPES.includes(g));
  if (unknown) throw new AccountError('invalid', `unknown grant "${unknown}"`, 'grant_types');
  if (isPublic && grantTypes.includes('client_credentials'))
    throw new AccountError('invalid', 'a public client cannot use client_credentials', 'grant_types');
  return grantTypes;
}

export function checkScopes(scopes: string[]): string[] {
  let parsed: string[];
  try {
    parsed = parseScope(scopes.join(' '));
  } catch (err) {
    if (err instanceof OAuthError)
      throw new AccountError('invalid', 'scopes must be RFC 6749 scope tokens', 'scopes');
    throw err;
  }
  // The admin scopes come only with the admin flag, through client_credentials (docs/admin.md).
  if (parsed.some(isAdminScope))
    throw new AccountError('invalid', 'use --admin instead of the admin scopes', 'scopes');
  return parsed;
}

export function checkAudiences(audiences: string[]): string[] {
  for (const a of audiences) {
    // RFC 8707 §2: an absolute URI without a fragment.
    if (!URL.canParse(a) || a.includes('#'))
      throw new AccountError('invalid', `audience "${a}" is not an absolute URI`, 'audiences');
  }
  return [...new Set(audiences)];
}

/** The JSON name of a changed field, as the admin API spells it. */
export const fieldName = (key: string) =>
  ({
    grantTypes: 'grant_types',
    redirectUris: 'redirect_uris',
    allowedOrigins: 'allowed_origins',
    refreshCookie: 'refresh_cookie',
    dpopBoundAccessTokens: 'dpop_bound_access_tokens',
  })[key] ?? key;
