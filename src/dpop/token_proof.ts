import type { Context, Next } from 'koa';
import { authenticatedClient } from '../http/client_auth.js';
import { requestState } from '../http/request_state.js';
import { tokenEndpointError } from './errors.js';
import type { DpopNonces } from './nonce.js';
import { type DpopProofVerifier, ProofRejected } from './proof.js';

export interface TokenProofDeps {
  proofs: DpopProofVerifier;
  nonces: DpopNonces;
  /** DPOP_NONCE: proofs at /token must carry a current server nonce (RFC 9449 §8). */
  requireNonce: boolean;
  issuer: string;
}

/**
 * The token endpoint's DPoP step (RFC 9449 §5): a request with a `DPoP` header must carry a
 * valid proof for this request, and a client registered with `dpop_bound_access_tokens` must send
 * one. With DPOP_NONCE every answer carries the current nonce (RFC 9449 §8.2).
 */
export function checkDpopProof(deps: TokenProofDeps) {
  const base = deps.issuer.replace(/\/$/, '');
  return async function checkDpopProof(ctx: Context, next: Next): Promise<void> {
    const nonce = deps.requireNonce ? deps.nonces.current() : undefined;
    if (nonce !== undefined) ctx.set('DPoP-Nonce', nonce);
    const headers = ctx.req.headersDistinct.dpop;
    // A client that must use DPoP (RFC 9449 §5.2) without a proof goes through the check below,
    // which refuses it as `missing` and counts it like every other refused proof.
    if (headers === undefined && !authenticatedClient(ctx).client.dpopBoundAccessTokens) return next();
    try {
      requestState(ctx).dpop = await deps.proofs.verify({
        headers,
        method: ctx.method,
        // The URI the client was told (metadata token_endpoint), never one built from Host.
        uri: `${base}${ctx.path}`,
        requireNonce: deps.requireNonce,
      });
    } catch (err) {
      // The reason travels as the error's private detail into the request log (request.error).
      if (!(err instanceof ProofRejected)) throw err;
      throw tokenEndpointError(err, nonce);
    }
    return next();
  };
}
