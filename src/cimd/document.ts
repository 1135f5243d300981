import { isCleanText } from '../http/strict_input.js';
import { STRICT_UTF8 } from '../utf8.js';
import type { FetchedDocument } from './fetch.js';

/**
 * A Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document §4): the client's
 * RFC 7591 metadata, served at the URL that is its client_id.
 */
export interface MetadataDocument {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  /** The `scope` the document asks for, if any (narrowed to THIRD_PARTY_SCOPES at use). */
  scope: string[] | undefined;
  clientUri: string | undefined;
  logoUri: string | undefined;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: the client promises DPoP proofs on every token request. */
  dpopBoundAccessTokens: boolean;
}

export class InvalidMetadataDocument extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidMetadataDocument';
  }
}

const invalid = (why: string) => new InvalidMetadataDocument(`the client metadata document ${why}`);

/**
 * A client_id that names a metadata document: an https URL with a path (draft §3), no
 * credentials, no fragment, no dot segments (the URL must be its own canonical form).
 */
export function isMetadataDocumentUrl(clientId: string): boolean {
  if (!clientId.startsWith('https://') || !URL.canParse(clientId)) return false;
  const url = new URL(clientId);
  return (
    url.pathname !== '/' &&
    url.hash === '' &&
    !clientId.includes('#') &&
    url.username === '' &&
    url.password === '' &&
    !/\/\.\.?(\/|$)/.test(clientId.slice(url.origin.length))
  );
}

function text(value: unknown, field: string, max = 2048): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > max || !isCleanText(value))
    throw invalid(`has a malformed ${field}`);
  return value;
}

function redirectUris(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 20)
    throw invalid('must list 1 to 20 redirect_uris');
  for (const uri of value)
    if (typeof uri !== 'string' || !URL.canParse(uri) || uri.includes('#') || !isCleanText(uri))
      throw invalid('has a redirect_uri that is not an absolute URI without a fragment');
  return [...new Set(value as string[])];
}

/** Checks the document against the URL it was fetched from (draft §4.1). */
export function parseMetadataDocument(clientId: string, fetched: FetchedDocument): MetadataDocument {
  if (!/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(fetched.contentType))
    throw invalid('is not application/json');
  let body: unknown;
  try {
    body = JSON.parse(STRICT_UTF8.decode(fetched.body));
  } catch {
    throw invalid('is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('is not a JSON object');
  const doc = body as Record<string, unknown>;
  // Compared as strings, not as parsed URLs: the draft requires exact equality.
  if (doc.client_id !== clientId) throw invalid('names another client_id');
  const clientName = text(doc.client_name, 'client_name', 200);
  if (clientName === undefined) throw invalid('has no client_name');
  // A metadata-document client proves nothing but the URL: it is public (`none` with PKCE).
  // A shared secret published in a document would be no secret (draft §4.1).
  if (doc.client_secret !== undefined || doc.client_secret_expires_at !== undefined)
    throw invalid('must not contain a client secret');
  const method = doc.token_endpoint_auth_method;
  if (method !== undefined && method !== 'none')
    throw invalid('asks for a token_endpoint_auth_method other than none, which Tessera does not support');
  const grants = doc.grant_types;
  if (
    grants !== undefined &&
    (!Array.isArray(grants) ||
      !grants.includes('authorization_code') ||
      grants.some((g) => g !== 'authorization_code' && g !== 'refresh_token'))
  )
    throw invalid('asks for grant types other than authorization_code and refresh_token');
  const responseTypes = doc.response_types;
  if (
    responseTypes !== undefined &&
    (!Array.isArray(responseTypes) || responseTypes.some((r) => r !== 'code'))
  )
    throw invalid('asks for response types other than code');
  const scope = text(doc.scope, 'scope');
  const dpop = doc.dpop_bound_access_tokens;
  if (dpop !== undefined && typeof dpop !== 'boolean')
    throw invalid('has a dpop_bound_access_tokens that is not a boolean');
  return {
    clientId,
    clientName,
    redirectUris: redirectUris(doc.redirect_uris),
    scope: scope?.split(' ').filter(Boolean),
    clientUri: text(doc.client_uri, 'client_uri'),
    logoUri: text(doc.logo_uri, 'logo_uri'),
    dpopBoundAccessTokens: dpop === true,
  };
}

/** The most and least time a document is trusted without fetching it again (docs/mcp.md). */
export const CACHE_MIN_S = 60;
export const CACHE_MAX_S = 86_400;

/**
 * How long to keep a document (RFC 9111 §4.2.1): `max-age`, else `Expires` − `Date`, bounded to
 * [1 min, 24 h]; `no-store`/`no-cache` keep it for the minimum, so a popular client's document
 * cannot make every authorization cost an outbound fetch.
 */
export function cacheLifetime(fetched: Pick<FetchedDocument, 'cacheControl' | 'expires' | 'date'>): number {
  const cc = fetched.cacheControl.toLowerCase();
  let seconds: number | undefined;
  if (/(^|,)\s*(no-store|no-cache)\b/.test(cc)) seconds = 0;
  const maxAge = /(^|,)\s*max-age\s*=\s*"?(\d+)"?/.exec(cc);
  if (seconds === undefined && maxAge?.[2]) seconds = Number(maxAge[2]);
  if (seconds === undefined && fetched.expires !== '') {
    const expires = Date.parse(fetched.expires);
    const date = fetched.date === '' ? Date.now() : Date.parse(fetched.date);
    seconds = Number.isNaN(expires) || Number.isNaN(date) ? 0 : Math.floor((expires - date) / 1000);
  }
  return Math.min(CACHE_MAX_S, Math.max(CACHE_MIN_S, seconds ?? 0));
}
