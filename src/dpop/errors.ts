import { OAuthError } from '../errors.js';
import { DPOP_ALGS, type ProofRejected, type ProofRejection } from './proof.js';

/** RFC 9449 §7.1: the DPoP challenge names the algorithms a proof may use. */
export const DPOP_CHALLENGE = `DPoP algs="${DPOP_ALGS.join(' ')}"`;

/**
 * RFC 9449 §5 and §8 at the token endpoint: a bad proof is 400 `invalid_dpop_proof`; a missing or
 * stale nonce is 400 `use_dpop_nonce` with the nonce to use. The reason stays in the log.
 */
export function tokenEndpointError(err: ProofRejected, nonce?: string): OAuthError {
  if (err.reason === 'nonce' && nonce !== undefined) {
    return new OAuthError('use_dpop_nonce', 'the authorization server requires a DPoP nonce', {
      detail: 'dpop proof without a current server nonce',
      headers: { 'DPoP-Nonce': nonce },
    });
  }
  return new OAuthError('invalid_dpop_proof', 'the DPoP proof is invalid', {
    detail: `dpop proof: ${err.reason}`,
  });
}

/**
 * RFC 9449 §7.1 at a protected resource: 401 with a DPoP challenge carrying the error code,
 * `invalid_dpop_proof` for the proof and `invalid_token` for the token.
 */
export function resourceError(
  error: 'invalid_dpop_proof' | 'invalid_token',
  reason: ProofRejection | string,
): OAuthError {
  const description =
    error === 'invalid_dpop_proof' ? 'the DPoP proof is invalid' : 'the access token is invalid';
  return new OAuthError(error, description, {
    status: 401,
    detail: `dpop: ${reason}`,
    headers: {
      'WWW-Authenticate': `${DPOP_CHALLENGE}, error="${error}", error_description="${description}"`,
    },
  });
}
