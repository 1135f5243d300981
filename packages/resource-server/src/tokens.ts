import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { RequestRefused, unavailable } from './errors.js';
import { DEFAULT_TIMEOUT_MS, DEFAULT_TOKEN_ALGS, type ResourceServerOptions } from './options.js';

/** What the kit knows of a verified token: its claims (JWT) or the introspection answer. */
export interface AccessClaims extends JWTPayload {
  sub?: string;
  client_id?: string;
  scope?: string;
  /** RFC 9449 §6: the thumbprint of the key a DPoP-bound token is bound to. */
  cnf?: { jkt?: string };
  [claim: string]: unknown;
}

/** Turns an access token into its claims, or refuses it; a failing key source is `unavailable`. */
export type TokenReader = (token: string, scheme: 'Bearer' | 'DPoP') => Promise<AccessClaims>;

const invalid = (scheme: 'Bearer' | 'DPoP', reason: string) =>
  new RequestRefused({ kind: 'invalid_token', scheme, reason });

/** RFC 9068 access tokens verified locally against the issuer's JWKS. */
export function jwksReader(options: ResourceServerOptions): TokenReader {
  const jwksOptions = options.jwks ?? {};
  const remote = createRemoteJWKSet(
    new URL(jwksOptions.uri ?? `${options.issuer.replace(/\/$/, '')}/.well-known/jwks.json`),
    {
      timeoutDuration: jwksOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      cacheMaxAge: jwksOptions.cacheMaxAgeMs ?? 300_000,
      cooldownDuration: jwksOptions.cooldownMs ?? 30_000,
    },
  );
  // Only "no such key" is the token's fault; a timeout, a refused connection, a non-200 or a bad
  // JWKS document is the key source's, and must be 503 (jose reports a timeout as a JOSEError too).
  const keys: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
        throw err;
      throw unavailable(err instanceof errors.JWKSTimeout ? 'jwks timeout' : 'jwks fetch failed');
    }
  };
  const audience = options.audience ?? options.resource;
  const algorithms = options.algorithms ?? DEFAULT_TOKEN_ALGS;
  const now = options.now;
  return async (token, scheme) => {
    try {
      const { payload } = await jwtVerify<AccessClaims>(token, keys, {
        issuer: options.issuer,
        audience,
        // RFC 9068 §4: refuse anything that is not an access token (an ID token, say).
        typ: 'at+jwt',
        // Never `none`, never an HMAC keyed with a public key: only the issuer's algorithms.
        algorithms,
        clockTolerance: 1,
        // RFC 9068 §2.2: the claims every JWT access token carries.
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
        ...(now ? { currentDate: new Date(now()) } : {}),
      });
      return payload;
    } catch (err) {
      if (err instanceof RequestRefused) throw err;
      if (err instanceof errors.JOSEError) throw invalid(scheme, err.code);
      throw invalid(scheme, 'malformed');
    }
  };
}

/** RFC 7662: the issuer says whether the token is active right now, within a bounded time. */
export function introspectionReader(options: ResourceServerOptions): TokenReader {
  const config = options.introspection;
  if (!config) throw new Error('introspection options are required');
  const basic = `Basic ${Buffer.from(
    `${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`,
  ).toString('base64')}`;
  const audience = options.audience ?? options.resource;
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return async (token, scheme) => {
    let answer: Record<string, unknown>;
    try {
      const res = await fetch(config.endpoint, {
        method: 'POST',
        headers: {
          authorization: basic,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      answer = (await res.json()) as Record<string, unknown>;
      if (typeof answer !== 'object' || answer === null) throw new Error('not an object');
    } catch {
      throw unavailable('introspection failed');
    }
    if (answer.active !== true) throw invalid(scheme, 'inactive');
    // A refresh token is active too, but it is no credential for an API.
    if (answer.token_type !== 'Bearer' && answer.token_type !== 'DPoP') throw invalid(scheme, 'token_type');
    if (answer.iss !== undefined && answer.iss !== options.issuer) throw invalid(scheme, 'iss');
    const aud = answer.aud;
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (!audiences.includes(audience)) throw invalid(scheme, 'aud');
    return answer as AccessClaims;
  };
}
