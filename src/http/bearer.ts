import type { Context, Next } from 'koa';
import { DPOP_CHALLENGE, resourceError } from '../dpop/errors.js';
import { type DpopProofVerifier, ProofRejected } from '../dpop/proof.js';
import { OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import { emitSignal } from '../facts/publisher.js';
import { ADMIN_SCOPE, type AdminScope } from '../grants/scope.js';
import { type AccessTokenClaims, type AccessTokenVerifier, TokenRejected } from '../tokens/access_token.js';
import { requestState } from './request_state.js';

/** How the token was presented: RFC 6750 Bearer, or RFC 9449 §7 DPoP with a proof. */
export type TokenScheme = 'Bearer' | 'DPoP';

/** The access token a request presented, once verified (RequestState.token). */
export interface PresentedToken {
  raw: string;
  claims: AccessTokenClaims;
  scheme: TokenScheme;
}

const REALM = 'realm="tessera"';

/** The challenge of a request without credentials: either scheme will do (RFC 9449 §7.1). */
const CHALLENGES = `Bearer ${REALM}, ${DPOP_CHALLENGE}`;

const CREDENTIALS = /^(Bearer|DPoP)[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

export interface BearerDeps {
  verifier: AccessTokenVerifier;
  events: EventBus;
  proofs: DpopProofVerifier;
  /** Proofs name this server's URIs as the ISSUER spells them, never as the Host header does. */
  issuer: string;
}

function invalidBearer(reason: string): OAuthError {
  // A valid token minted for an API (its aud) is still invalid here (RFC 9068 §4); saying so
  // tells the integrator what to fix and discloses nothing the token's holder cannot decode.
  const description =
    reason === 'wrong_audience'
      ? "the access token's audience is not this server"
      : 'the access token is invalid';
  return new OAuthError('invalid_token', description, {
    detail: reason,
    headers: {
      'WWW-Authenticate': `Bearer ${REALM}, error="invalid_token", error_description="${description}"`,
    },
  });
}

/**
 * Tessera's own protected endpoints: `Authorization: Bearer` (RFC 6750 §2.1) or `Authorization:
 * DPoP` with a proof (RFC 9449 §7), never query or body tokens (RFC 9700 §4.3.2), and only tokens
 * whose aud includes the ISSUER (RFC 9068 §4). A DPoP-bound token is refused as Bearer: a copy of
 * it is worth nothing without the key (RFC 9449 §7.1).
 */
export function requireBearer(deps: BearerDeps) {
  const base = deps.issuer.replace(/\/$/, '');
  return async function bearerAuthentication(ctx: Context, next: Next): Promise<void> {
    const header = ctx.get('authorization');
    const scheme: TokenScheme | undefined = /^DPoP\b/i.test(header)
      ? 'DPoP'
      : /^Bearer\b/i.test(header)
        ? 'Bearer'
        : undefined;
    if (!header || !scheme) {
      // RFC 6750 §3.1: a request without credentials gets the challenge but no error code.
      throw new OAuthError('invalid_token', 'an access token is required', {
        headers: { 'WWW-Authenticate': CHALLENGES },
      });
    }
    const invalid = (reason: string) =>
      scheme === 'DPoP' ? resourceError('invalid_token', reason) : invalidBearer(reason);
    const raw = CREDENTIALS.exec(header)?.[2];
    if (!raw) throw invalid('malformed Authorization header');
    let claims: AccessTokenClaims;
    try {
      claims = await deps.verifier.verifyForIssuer(raw);
    } catch (err) {
      if (err instanceof TokenRejected) {
        emitSignal(deps.events, 'token.rejected', { reason: err.reason });
        throw invalid(err.reason);
      }
      throw err;
    }
    const jkt = claims.cnf?.jkt;
    if (scheme === 'Bearer' && jkt !== undefined)
      throw resourceError('invalid_token', 'bound token sent as Bearer');
    if (scheme === 'DPoP') {
      if (jkt === undefined) throw resourceError('invalid_token', 'unbound token sent as DPoP');
      try {
        await deps.proofs.verify({
          headers: ctx.req.headersDistinct.dpop,
          method: ctx.method,
          uri: `${base}${ctx.path}`,
          accessToken: raw,
          expectedJkt: jkt,
        });
      } catch (err) {
        if (err instanceof ProofRejected) throw resourceError('invalid_dpop_proof', err.reason);
        throw err;
      }
    }
    requestState(ctx).token = { raw, claims, scheme };
    return next();
  };
}

/** RFC 6750 §3.1 / RFC 9449 §7.1 insufficient_scope, in the scheme the token came with. */
function insufficientScope(ctx: Context, scope: string, description: string): OAuthError {
  const challenge = requestState(ctx).token?.scheme === 'DPoP' ? DPOP_CHALLENGE : `Bearer ${REALM}`;
  return new OAuthError('insufficient_scope', description, {
    headers: { 'WWW-Authenticate': `${challenge}, error="insufficient_scope", scope="${scope}"` },
  });
}

/** RFC 6750 §3.1 insufficient_scope: 403 naming the scope that was needed. */
export function requireScope(scope: string) {
  return async function scopeCheck(ctx: Context, next: Next): Promise<void> {
    const granted = (requestState(ctx).token?.claims.scope ?? '').split(' ');
    if (!granted.includes(scope)) throw insufficientScope(ctx, scope, `the "${scope}" scope is required`);
    return next();
  };
}

/**
 * The admin API's scope check (docs/admin.md): `admin` allows every area, `admin:<area>` one. The
 * 403 names the narrow scope, the least a client needs to ask for.
 */
export function requireAdminScope(scope: AdminScope) {
  return async function adminScopeCheck(ctx: Context, next: Next): Promise<void> {
    const granted = (requestState(ctx).token?.claims.scope ?? '').split(' ');
    if (!granted.includes(ADMIN_SCOPE) && !granted.includes(scope)) {
      throw insufficientScope(ctx, scope, `the "${scope}" or "${ADMIN_SCOPE}" scope is required`);
    }
    return next();
  };
}

export function bearerClaims(ctx: Context): AccessTokenClaims {
  const { token } = requestState(ctx);
  if (!token) throw new Error('requireBearer must run first');
  return token.claims;
}
