import type { ReplayCache } from './replay.js';

export interface JwksOptions {
  /** Defaults to ISSUER/.well-known/jwks.json. */
  uri?: string;
  /**
   * How long one JWKS fetch may take (ms). A slow or unreachable JWKS is this API's outage (503),
   * never the client's bad token (401). Default 2000.
   */
  timeoutMs?: number;
  /**
   * How long fetched keys are trusted (ms). Tessera publishes a key JWKS_MAX_AGE (300 s) before it
   * signs with it, so this default never misses a key; an unknown `kid` refetches anyway.
   */
  cacheMaxAgeMs?: number;
  /** The least time between two refetches for unknown `kid`s (ms), so garbage cannot flood the issuer. */
  cooldownMs?: number;
}

export interface IntrospectionOptions {
  /** ISSUER/introspect (RFC 7662). */
  endpoint: string;
  /** A client allowed to introspect tokens for this resource's audience. */
  clientId: string;
  clientSecret: string;
  /** How long one introspection call may take (ms) before the request is answered 503. Default 2000. */
  timeoutMs?: number;
}

export interface DpopOptions {
  /** RFC 9449 §4.3 check 5: algorithms a proof may use (asymmetric only). Default: every one jose verifies. */
  algorithms?: string[];
  /**
   * Where seen proof ids are kept (RFC 9449 §11.1). The default is this process's memory, bounded
   * in size; several instances behind one URL must share one cache (see the README).
   */
  replayCache?: ReplayCache;
}

export interface ResourceServerOptions {
  /**
   * This resource's identifier (RFC 9728 `resource`, RFC 8707 `resource` parameter): the audience
   * its tokens must carry unless `audience` says otherwise. An https URL in production.
   */
  resource: string;
  /** The `aud` tokens must hold; default `resource`. */
  audience?: string;
  /** The issuer of the tokens, compared byte for byte with `iss`. */
  issuer: string;
  /** RFC 9728 `authorization_servers`; default [issuer]. */
  authorizationServers?: string[];
  /** RFC 9728 `scopes_supported`. */
  scopesSupported?: string[];
  /**
   * The scheme, host and port clients reach this API at, from which DPoP `htu` is checked and the
   * metadata URL is built: configured, never taken from a Host header. Default: `resource`'s origin.
   */
  publicUrl?: string;
  /** Algorithms access tokens may be signed with; never `none`, never HMAC. */
  algorithms?: string[];
  /** Local JWT verification against the issuer's JWKS (RFC 9068): the default mode. */
  jwks?: JwksOptions;
  /** RFC 7662 introspection on every request instead of JWKS: a revocation is seen at once. */
  introspection?: IntrospectionOptions;
  /** RFC 9449 DPoP-bound tokens; `false` accepts Bearer tokens only (bound tokens are still refused). */
  dpop?: DpopOptions | false;
  /** RFC 6750 §3 `realm`. Default "api". */
  realm?: string;
  /** The clock (ms since the epoch), for tests. */
  now?: () => number;
}

export const DEFAULT_TOKEN_ALGS = ['ES256', 'EdDSA', 'RS256', 'PS256'];
export const DEFAULT_TIMEOUT_MS = 2000;
