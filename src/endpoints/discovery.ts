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

/** A serialised answer: its bytes (so Koa need not measure a string per request) and ETag. */
export interface CachedBody {
  body: Buffer;
  etag: string;
}

const cachedBody = (text: string): CachedBody => ({ body: Buffer.from(text), etag: strongEtag(text) });

/** True when If-None-Match names this ETag (RFC 9110 §13.1.2: several tags, weak ones, or "*"). */
function matches(inm: string, etag: string): boolean {
  if (inm === etag) return true;
  return inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/**
 * Answers a precomputed JSON body with its ETag, or 304 when the caller already has it. The
 * Content-Type header is set directly: Koa's `ctx.type` setter looks the type up per request.
 */
function sendCached(ctx: Context, type: string, cached: CachedBody, cacheControl: string): void {
  ctx.set('Cache-Control', cacheControl);
  ctx.set('ETag', cached.etag);
  const inm = ctx.get('if-none-match');
  if (inm && matches(inm, cached.etag)) {
    ctx.status = 304;
    return;
  }
  ctx.set('Content-Type', type);
  ctx.body = cached.body;
}

/** RFC 7517 §5 JWK Set of the published keys: serialised once per key change (keyring.ts). */
export function serveJwks(deps: Pick<DiscoveryDeps, 'keys' | 'jwksMaxAge'>) {
  const cacheControl = `public, max-age=${deps.jwksMaxAge}`;
  // The key ring serialises the set when it changes; its bytes are taken once per new serialisation.
  let last: { source: string; cached: CachedBody } | undefined;
  const current = (): CachedBody => {
    const { body, etag } = deps.keys.current().jwks;
    if (last?.source !== body) last = { source: body, cached: { body: Buffer.from(body), etag } };
    return last.cached;
  };
  return async function serveJwks(ctx: Context): Promise<void> {
    sendCached(ctx, 'application/jwk-set+json', current(), cacheControl);
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

  // Serialised (and its ETag computed) only when an input changed, not per request: the inputs are
  // compared by identity (the key ring's state and the scope list are new arrays when they are
  // re-read; the grant types are fixed at start), so an unchanged document costs no serialisation.
  let cached: { algs: readonly string[]; scopes: string[]; doc: CachedBody } | undefined;
  return async function serveMetadata(ctx: Context): Promise<void> {
    const scopesSupported = await scopes();
    const algs = deps.signingAlgs();
    if (cached?.algs !== algs || cached.scopes !== scopesSupported) {
      const doc = cachedBody(JSON.stringify(metadata(deps.grantTypes(), scopesSupported, algs)));
      cached = { algs, scopes: scopesSupported, doc };
    }
    sendCached(ctx, 'application/json', cached.doc, 'public, max-age=300');
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

/** The well-known documents answered by the short path, by their exact path (no parameters). */
export const WELL_KNOWN_PATHS = [
  '/.well-known/jwks.json',
  '/.well-known/oauth-authorization-server',
] as const;
export type WellKnownPath = (typeof WELL_KNOWN_PATHS)[number];

/**
 * The short path of the two public documents: a plain `GET`/`HEAD` of the exact path, with no query
 * and no body, is answered here, before the router and its input reader (nothing there to read).
 * It runs after the request log, the metrics and the security headers, and names the route as the
 * router would, so the answer is logged and counted the same. Anything else (a query, a body, a
 * content coding, another method) goes on to the router, which answers it as before.
 */
export function wellKnownShortPath(handlers: Record<WellKnownPath, (ctx: Context) => Promise<void>>) {
  const byPath = new Map<string, (ctx: Context) => Promise<void>>(Object.entries(handlers));
  return async function wellKnown(ctx: Context, next: () => Promise<unknown>): Promise<void> {
    const handler = byPath.get(ctx.path);
    const plain =
      handler !== undefined &&
      (ctx.method === 'GET' || ctx.method === 'HEAD') &&
      ctx.querystring === '' &&
      ctx.req.headers['content-length'] === undefined &&
      ctx.req.headers['transfer-encoding'] === undefined &&
      ctx.req.headers['content-encoding'] === undefined;
    if (!plain) {
      await next();
      return;
    }
    ctx._matchedRoute = ctx.path;
    await handler(ctx);
  };
}
