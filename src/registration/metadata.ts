import { isIP } from 'node:net';
import { OAuthError } from '../errors.js';
import { isCleanText } from '../http/strict_input.js';
import type { GrantType } from '../stores/types.js';

/** RFC 7591 §3.2.2: the two registration error codes, 400 with a JSON body. */
const badMetadata = (description: string) => new OAuthError('invalid_client_metadata', description);
const badRedirect = (description: string) => new OAuthError('invalid_redirect_uri', description);

export type RegistrationAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';
const AUTH_METHODS: readonly RegistrationAuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post'];

/** The client metadata Tessera accepts (RFC 7591 §2), as validated and stored. */
export interface ClientMetadata {
  redirect_uris: string[];
  client_name: string;
  client_uri?: string;
  logo_uri?: string;
  grant_types: GrantType[];
  response_types: ['code'];
  token_endpoint_auth_method: RegistrationAuthMethod;
  scope: string;
  application_type: 'web' | 'native';
  contacts?: string[];
  software_id?: string;
  software_version?: string;
  /** RFC 9449 §5.2: every token request of this client must carry a DPoP proof. */
  dpop_bound_access_tokens?: boolean;
}

/** Names a registration request may not set (RFC 7591 §3.2.1, RFC 7592 §2.2: the server's). */
const SERVER_FIELDS = [
  'client_id_issued_at',
  'client_secret_expires_at',
  'registration_access_token',
  'registration_client_uri',
];

function optionalText(body: Record<string, unknown>, field: string, max: number): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '' || v.length > max || !isCleanText(v))
    throw badMetadata(`${field} must be a string of 1-${max} characters`);
  return v;
}

function optionalList(body: Record<string, unknown>, field: string, maxItems: number): string[] | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (
    !Array.isArray(v) ||
    v.length > maxItems ||
    v.some((x) => typeof x !== 'string' || x === '' || x.length > 2048 || !isCleanText(x))
  )
    throw badMetadata(`${field} must be an array of at most ${maxItems} strings`);
  return [...new Set(v as string[])];
}

function httpsUrl(body: Record<string, unknown>, field: string): string | undefined {
  const v = optionalText(body, field, 2048);
  if (v !== undefined && (!URL.canParse(v) || new URL(v).protocol !== 'https:'))
    throw badMetadata(`${field} must be an https URL`);
  return v;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]']);

/**
 * RFC 8252 §7.1: a private-use scheme is a reverse domain name the app owns (`com.example.app:`),
 * which also keeps out `javascript:`, `data:`, `file:` and other schemes a browser acts on itself.
 */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/;

/**
 * Redirect URIs per application type (OpenID Connect Dynamic Registration §2, RFC 8252):
 * `web` only https; `native` a loopback http URI (RFC 8252 §7.3, any port) or a private-use
 * scheme (§7.1). `localhost` is refused (RFC 8252 §8.3: it may not resolve to loopback).
 */
function checkRedirectUri(uri: string, applicationType: 'web' | 'native'): void {
  if (!URL.canParse(uri) || uri.includes('#'))
    throw badRedirect('a redirect_uri is not an absolute URI without a fragment');
  const url = new URL(uri);
  if (url.username !== '' || url.password !== '')
    throw badRedirect('a redirect_uri must not carry credentials');
  if (applicationType === 'web') {
    // RFC 7591 §2: without application_type a client is "web". Most MCP hosts and CLI tools are
    // native apps on a loopback redirect and send no application_type (the MCP SDK's metadata
    // type has no such field): say what to send (docs/mcp.md).
    if (url.protocol === 'http:' && (LOOPBACK_HOSTS.has(url.hostname) || url.hostname === 'localhost'))
      throw badRedirect(
        'a web application (the default without application_type) must use https redirect URIs: a loopback redirect_uri needs application_type "native"' +
          (url.hostname === 'localhost'
            ? ', with http://127.0.0.1 or http://[::1] instead of localhost'
            : ''),
      );
    if (url.protocol !== 'https:')
      throw badRedirect(
        'a web application (the default without application_type) must use https redirect URIs; a private-use scheme needs application_type "native"',
      );
    return;
  }
  if (url.protocol === 'http:') {
    if (!LOOPBACK_HOSTS.has(url.hostname))
      throw badRedirect(
        'a native application may use http only with 127.0.0.1 or [::1] (not localhost, RFC 8252 §8.3)',
      );
    return;
  }
  if (url.protocol === 'https:' || !PRIVATE_USE_SCHEME.test(url.protocol) || isIP(url.hostname) !== 0)
    throw badRedirect('a native application must use a loopback or a private-use scheme redirect URI');
}

function grantTypes(body: Record<string, unknown>): GrantType[] {
  const grants = optionalList(body, 'grant_types', 4) ?? ['authorization_code'];
  // docs/mcp.md: third-party clients get the code flow and refresh only, never the password grant.
  if (
    !grants.includes('authorization_code') ||
    grants.some((g) => g !== 'authorization_code' && g !== 'refresh_token')
  )
    throw badMetadata('grant_types must be authorization_code, optionally with refresh_token');
  return grants as GrantType[];
}

function scope(body: Record<string, unknown>, allowed: readonly string[]): string {
  const requested = optionalText(body, 'scope', 2048);
  if (requested === undefined) return allowed.join(' ');
  const tokens = [...new Set(requested.split(' ').filter(Boolean))];
  const refused = tokens.find((t) => !allowed.includes(t));
  if (tokens.length === 0 || refused !== undefined)
    throw badMetadata('scope may only name the scopes this server offers to third-party clients');
  return tokens.join(' ');
}

/** Validates an RFC 7591 registration (or RFC 7592 update) body; unknown names are ignored (§2). */
export function parseClientMetadata(
  body: Record<string, unknown>,
  allowedScopes: readonly string[],
): ClientMetadata {
  const server = SERVER_FIELDS.find((f) => body[f] !== undefined);
  if (server !== undefined) throw badMetadata(`${server} is set by the server`);
  const applicationType = body.application_type ?? 'web';
  if (applicationType !== 'web' && applicationType !== 'native')
    throw badMetadata('application_type must be web or native');
  const redirectUris = optionalList(body, 'redirect_uris', 20);
  if (redirectUris === undefined || redirectUris.length === 0) throw badRedirect('redirect_uris is required');
  for (const uri of redirectUris) checkRedirectUri(uri, applicationType);
  const method = body.token_endpoint_auth_method ?? 'client_secret_basic';
  if (!AUTH_METHODS.includes(method as RegistrationAuthMethod))
    throw badMetadata('token_endpoint_auth_method must be none, client_secret_basic or client_secret_post');
  const responseTypes = optionalList(body, 'response_types', 4) ?? ['code'];
  if (responseTypes.length !== 1 || responseTypes[0] !== 'code')
    throw badMetadata('response_types must be ["code"]');
  const metadata: ClientMetadata = {
    redirect_uris: redirectUris,
    client_name: optionalText(body, 'client_name', 200) ?? 'Unnamed app',
    grant_types: grantTypes(body),
    response_types: ['code'],
    token_endpoint_auth_method: method as RegistrationAuthMethod,
    scope: scope(body, allowedScopes),
    application_type: applicationType,
  };
  const clientUri = httpsUrl(body, 'client_uri');
  const logoUri = httpsUrl(body, 'logo_uri');
  const contacts = optionalList(body, 'contacts', 10);
  const softwareId = optionalText(body, 'software_id', 256);
  const softwareVersion = optionalText(body, 'software_version', 256);
  if (clientUri !== undefined) metadata.client_uri = clientUri;
  if (logoUri !== undefined) metadata.logo_uri = logoUri;
  if (contacts !== undefined) metadata.contacts = contacts;
  if (softwareId !== undefined) metadata.software_id = softwareId;
  if (softwareVersion !== undefined) metadata.software_version = softwareVersion;
  const dpop = body.dpop_bound_access_tokens;
  if (dpop !== undefined && typeof dpop !== 'boolean')
    throw badMetadata('dpop_bound_access_tokens must be a boolean');
  if (dpop === true) metadata.dpop_bound_access_tokens = true;
  return metadata;
}
