/**
 * Why a request is refused, as typed values; src/challenge.ts maps each to its RFC 6750 / RFC 9449
 * answer in one place.
 */
export type Refusal =
  /** RFC 6750 §3.1: no credentials at all: 401 with a bare challenge (no error code). */
  | { kind: 'no_token' }
  /** RFC 6750 §3.1 invalid_request: a malformed Authorization header. */
  | { kind: 'invalid_request'; reason: string }
  /** RFC 6750 §3.1 invalid_token, under the scheme the token must be used with. */
  | { kind: 'invalid_token'; scheme: 'Bearer' | 'DPoP'; reason: string }
  /** RFC 9449 §7.1 invalid_dpop_proof. */
  | { kind: 'invalid_dpop_proof'; reason: string }
  /** RFC 6750 §3.1 insufficient_scope: 403 naming every scope the route needs. */
  | { kind: 'insufficient_scope'; scopes: readonly string[]; scheme: 'Bearer' | 'DPoP' }
  /** The JWKS, the introspection endpoint or the replay cache failed: 503, never the client's fault. */
  | { kind: 'unavailable'; reason: string };

export class RequestRefused extends Error {
  constructor(readonly refusal: Refusal) {
    super(`access refused: ${refusal.kind}`);
    this.name = 'RequestRefused';
  }
}

/** A dependency (JWKS, introspection, replay cache) failed or timed out. */
export const unavailable = (reason: string) => new RequestRefused({ kind: 'unavailable', reason });
