import type { Context, Next } from 'koa';
import { OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import { ADMIN_SCOPE, type AdminScope } from '../grants/scope.js';
import { type AccessTokenClaims, type AccessTokenVerifier, TokenRejected } from '../tokens/access_token.js';

declare module 'koa' {
  interface DefaultState {
    token?: { raw: string; claims: AccessTokenClaims };
  }
}

const REALM = 'realm="tessera"';

/**
 * Tessera's own protected endpoints: RFC 6750 §2.1 Authorization: Bearer only (no query or body
 * tokens: RFC 9700 §4.3.2), and only tokens whose aud includes the ISSUER (RFC 9068 §4).
 */
export function requireBearer(deps: { verifier: AccessTokenVerifier; events: EventBus }) {
  return async function bearerAuthentication(ctx: Context, next: Next): Promise<void> {
    const header = ctx.get('authorization');
    const m = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(header);
    if (!header || !/^Bearer\b/i.test(header)) {
      // RFC 6750 §3.1: a request without credentials gets the challenge but no error code.
      throw new OAuthError('invalid_token', 'a bearer access token is required', {
        headers: { 'WWW-Authenticate': `Bearer ${REALM}` },
      });
    }
    const invalid = (reason: string) => {
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
    };
    if (!m?.[1]) throw invalid('malformed Authorization header');
    try {
      ctx.state.token = { raw: m[1], claims: await deps.verifier.verifyForIssuer(m[1]) };
    } catch (err) {
      if (err instanceof TokenRejected) {
        deps.events.emit('token.rejected', { reason: err.reason });
        throw invalid(err.reason);
      }
      throw err;
    }
    return next();
  };
}

/** RFC 6750 §3.1 insufficient_scope: 403 naming the scope that was needed. */
export function requireScope(scope: string) {
  return async function scopeCheck(ctx: Context, next: Next): Promise<void> {
    const granted = (ctx.state.token?.claims.scope ?? '').split(' ');
    if (!granted.includes(scope)) {
      throw new OAuthError('insufficient_scope', `the "${scope}" scope is required`, {
        headers: { 'WWW-Authenticate': `Bearer ${REALM}, error="insufficient_scope", scope="${scope}"` },
      });
    }
    return next();
  };
}

/**
 * The admin API's scope check (docs/admin.md): `admin` allows every area, `admin:<area>` one. The
 * 403 names the narrow scope, the least a client needs to ask for.
 */
export function requireAdminScope(scope: AdminScope) {
  return async function adminScopeCheck(ctx: Context, next: Next): Promise<void> {
    const granted = (ctx.state.token?.claims.scope ?? '').split(' ');
    if (!granted.includes(ADMIN_SCOPE) && !granted.includes(scope)) {
      throw new OAuthError('insufficient_scope', `the "${scope}" or "${ADMIN_SCOPE}" scope is required`, {
        headers: { 'WWW-Authenticate': `Bearer ${REALM}, error="insufficient_scope", scope="${scope}"` },
      });
    }
    return next();
  };
}

export function bearerClaims(ctx: Context): AccessTokenClaims {
  if (!ctx.state.token) throw new Error('requireBearer must run first');
  return ctx.state.token.claims;
}
