/**
 * Koa middleware that protects an API with Tessera's access tokens.
 *
 *   requireAccessToken  verifies the JWT locally against Tessera's JWKS (RFC 9068): fast, no call
 *                       to Tessera per request, but a revoked token keeps working until it expires
 *                       (at most ACCESS_TOKEN_TTL, 15 minutes by default).
 *   requireActiveToken  asks Tessera's /introspect (RFC 7662) on every request: one round trip,
 *                       and a revocation, logout or disabled user is seen at once. Use it for the
 *                       routes where that matters (payments, account changes, admin actions).
 *   requireScopes       RFC 6750 §3.1 insufficient_scope when the token lacks a scope.
 *
 * Copy this file into your API; it needs only `koa` and `jose`.
 */
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';
import type { Context, Middleware, Next } from 'koa';

/** The claims Tessera puts in every access token (RFC 9068 §2.2). */
export interface TesseraClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope?: string;
  username?: string;
  roles?: string[];
  sid?: string;
}

declare module 'koa' {
  interface DefaultState {
    /** The verified claims of the request's access token. */
    auth?: TesseraClaims;
  }
}

export interface TesseraAuthOptions {
  /** Tessera's ISSUER, exactly as in its metadata (`iss` is compared byte for byte). */
  issuer: string;
  /** This API's identifier: the `--audience` its clients were registered with. */
  audience: string;
  /** Algorithms Tessera signs with (metadata `access_token_signing_alg_values_supported`). */
  algorithms?: string[];
  /** Defaults to ISSUER/.well-known/jwks.json. */
  jwksUri?: string;
  /**
   * How long fetched keys are trusted. Tessera publishes a new key JWKS_MAX_AGE (300 s) before it
   * signs with it, so a cache of that length never misses a key; an unknown `kid` refetches anyway
   * (at most once per 30 s).
   */
  jwksCacheMaxAgeMs?: number;
}

const REALM = 'realm="api"';

/** RFC 6750 §3: 401 with a Bearer challenge; the body mirrors it as JSON. */
function unauthorized(ctx: Context, error?: 'invalid_request' | 'invalid_token', description?: string): void {
  ctx.status = 401;
  ctx.set(
    'WWW-Authenticate',
    error ? `Bearer ${REALM}, error="${error}", error_description="${description}"` : `Bearer ${REALM}`,
  );
  ctx.body = error ? { error, error_description: description } : { error: 'invalid_token', error_description: 'a bearer access token is required' };
}

/** RFC 6750 §2.1: only the Authorization header (never a query parameter: RFC 9700 §4.3.2). */
function bearerToken(ctx: Context): string | null | undefined {
  const header = ctx.get('authorization');
  if (!header) return undefined;
  const m = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(header);
  return m?.[1] ?? null;
}

/** Verifies Tessera's JWT access tokens locally: signature (cached JWKS), `typ`, issuer, audience, expiry. */
export function requireAccessToken(options: TesseraAuthOptions): Middleware {
  const jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${options.issuer.replace(/\/$/, '')}/.well-known/jwks.json`), {
    cacheMaxAge: options.jwksCacheMaxAgeMs ?? 300_000,
    cooldownDuration: 30_000,
  });
  const algorithms = options.algorithms ?? ['ES256', 'EdDSA', 'RS256', 'PS256'];
  return async function accessToken(ctx: Context, next: Next): Promise<void> {
    const token = bearerToken(ctx);
    if (token === undefined) return unauthorized(ctx);
    if (token === null) return unauthorized(ctx, 'invalid_request', 'malformed Authorization header');
    try {
      const { payload } = await jwtVerify<TesseraClaims>(token, jwks, {
        issuer: options.issuer,
        audience: options.audience,
        // RFC 9068 §4: refuse anything that is not an access token (an ID token, say).
        typ: 'at+jwt',
        // Never `none`, never an HMAC with a public key: only what Tessera signs with.
        algorithms,
        clockTolerance: 1,
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
      });
      ctx.state.auth = payload;
    } catch (err) {
      if (err instanceof errors.JOSEError) return unauthorized(ctx, 'invalid_token', 'the access token is invalid');
      throw err; // a network failure fetching the JWKS is the API's 5xx, not the client's fault
    }
    return next();
  };
}

export interface IntrospectionOptions {
  /** ISSUER/introspect */
  introspectionEndpoint: string;
  /** A Tessera client created with --introspect and this API's --audience. */
  clientId: string;
  clientSecret: string;
}

/**
 * Asks Tessera whether the token is active right now (RFC 7662). Tessera answers only for tokens
 * whose audience is among this client's audiences, so a token for another API is inactive here.
 */
export function requireActiveToken(options: IntrospectionOptions): Middleware {
  const basic = `Basic ${Buffer.from(
    `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
  ).toString('base64')}`;
  return async function activeToken(ctx: Context, next: Next): Promise<void> {
    const token = bearerToken(ctx);
    if (token === undefined) return unauthorized(ctx);
    if (token === null) return unauthorized(ctx, 'invalid_request', 'malformed Authorization header');
    const res = await fetch(options.introspectionEndpoint, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    if (!res.ok) throw new Error(`introspection failed with HTTP ${res.status}`);
    const answer = (await res.json()) as { active: boolean; token_type?: string } & Partial<TesseraClaims>;
    // A refresh token is active too (token_type "refresh_token"), but it is no credential for an API.
    if (!answer.active || answer.token_type !== 'Bearer')
      return unauthorized(ctx, 'invalid_token', 'the access token is invalid');
    ctx.state.auth = answer as TesseraClaims;
    return next();
  };
}

/** RFC 6750 §3.1: 403 insufficient_scope, naming every scope the route needs. */
export function requireScopes(...scopes: string[]): Middleware {
  return async function scopeCheck(ctx: Context, next: Next): Promise<void> {
    const granted = new Set((ctx.state.auth?.scope ?? '').split(' '));
    if (!scopes.every((s) => granted.has(s))) {
      const needed = scopes.join(' ');
      ctx.status = 403;
      ctx.set('WWW-Authenticate', `Bearer ${REALM}, error="insufficient_scope", scope="${needed}"`);
      ctx.body = { error: 'insufficient_scope', error_description: `requires scope "${needed}"` };
      return;
    }
    return next();
  };
}
