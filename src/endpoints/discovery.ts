import type { Context } from 'koa';
import { PKCE_METHODS } from '../authorize/pkce.js';
import { DPOP_ALGS } from '../dpop/proof.js';
import { strongEtag } from '../etag.js';
import { CLIENT_AUTH_METHODS } from '../http/client_auth.js';
import type { KeyRing } from '../keys/keyring.js';

export interface DiscoveryDeps {
  issuer: string;
  keys: KeyRing;
  jwksMaxAge: number;
  grantTypes: () => string[];
  /** Every scope a client may ask for; read from the client table at most every SCOPES_TTL_MS. */
  scopes: () => Promise<string[]>;
  /** Algorithms of the published keys (a function, since rotation changes them). */
  signingAlgs: () => readonly string[];
  /** CLIENT_REGISTRATION is on: RFC 8414 §2 `registration_endpoint`. */
  registrationEndpoint?: boolean;
  /** CLIENT_ID_METADATA_DOCUMENTS=on (draft-ietf-oauth-client-id-metadata-document §5). */
  metadataDocuments?: boolean;
}

/** The metadata is public and unauthenticated: it must not cost a table scan per request. */
const SCOPES_TTL_MS = 30_000;

/**
 * Answers a precomputed JSON body with its ETag, or 304 when the caller already has it
 * (RFC 9110 §13.1.2: If-None-Match may list several tags, or "*").
 */
function sendCached(ctx: Context, type: string, body: string, etag: string): void {
  ctx.set('ETag', etag);
  ctx.type = type;
  const inm = ctx.get('if-none-match');
  if (inm && (inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
    ctx.status = 304;
    return;
  }
  ctx.body = body;
}

/** RFC 7517 §5 JWK Set of the published keys: serialised once per key change (keyring.ts). */
export function serveJwks(deps: Pick<DiscoveryDeps, 'keys' | 'jwksMaxAge'>) {
  return async function serveJwks(ctx: Context): Promise<void> {
    const { body, etag } = deps.keys.current().jwks;
    ctx.set('Cache-Control', `public, max-age=${deps.jwksMaxAge}`);
    sendCached(ctx, 'application/jwk-set+json', body, etag);
  };
}

/** RFC 8414 §3 authorization server metadata. */
export function serveMetadata(deps: DiscoveryDeps) {
  const base = deps.issuer.replace(/\/$/, '');
  let cachedScopes: { value: Promise<string[]>; until: number } | undefined;
  const scopes = () => {
    if (!cachedScopes || cachedScopes.until <= Date.now()) {
      const value = deps.scopes();
      // A failed read is not cached: the next request tries again.
      value.catch(() => {
        cachedScopes = undefined;
      });
      cachedScopes = { value, until: Date.now() + SCOPES_TTL_MS };
    }
    return cachedScopes.value;
  };

  // Serialised (and its ETag computed) only when one of its inputs changed, not per request.
  let cached: { inputs: string; body: string; etag: string } | undefined;
  return async function serveMetadata(ctx: Context): Promise<void> {
    const grantTypes = deps.grantTypes();
    const scopesSupported = await scopes();
    const algs = deps.signingAlgs();
    const inputs = JSON.stringify([grantTypes, scopesSupported, algs]);
    if (cached?.inputs !== inputs) {
      const body = JSON.stringify(metadata(grantTypes, scopesSupported, algs));
      cached = { inputs, body, etag: strongEtag(body) };
    }
    ctx.set('Cache-Control', 'public, max-age=300');
    sendCached(ctx, 'application/json', cached.body, cached.etag);
  };

  function metadata(grantTypes: string[], scopesSupported: string[], algs: readonly string[]) {
    return {
      // RFC 8414 §3.3: must be identical to the issuer the client used to build the URL.
      issuer: deps.issuer,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      revocation_endpoint: `${base}/revoke`,
      introspection_endpoint: `${base}/introspect`,
      grant_types_supported: grantTypes,
      // RFC 6749 §4.1 only: no implicit grant (RFC 9700 §2.1.2), answers in the query string.
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      code_challenge_methods_supported: PKCE_METHODS,
      // RFC 9207 §3: every authorization response carries `iss`.
      authorization_response_iss_parameter_supported: true,
      token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      // Only confidential clients may carry the introspection flag, so `none` never succeeds there.
      introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.filter((m) => m !== 'none'),
      scopes_supported: scopesSupported,
      // RFC 9068 tokens are signed with the server keys; advertise the algorithms of published keys.
      access_token_signing_alg_values_supported: algs,
      // RFC 9449 §5.1: the proof algorithms /token and Tessera's own resources accept.
      dpop_signing_alg_values_supported: DPOP_ALGS,
      ...(deps.registrationEndpoint ? { registration_endpoint: `${base}/register` } : {}),
      ...(deps.metadataDocuments ? { client_id_metadata_document_supported: true } : {}),
    };
  }
}
