import type { Context, Next } from 'koa';
import { invalidRequest, OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import { emitSignal } from '../facts/publisher.js';
import { authenticatedClient } from '../http/client_auth.js';
import { params } from '../http/params.js';
import type { ClientRecord, RefreshTokenInspector } from '../stores/types.js';
import { type AccessTokenVerifier, TokenRejected } from '../tokens/access_token.js';
import { sha256 } from '../tokens/secrets.js';

export interface IntrospectDeps {
  verifier: AccessTokenVerifier;
  liveRefreshTokens: RefreshTokenInspector;
  issuer: string;
  now: () => number;
  events: EventBus;
}

type Answer = Record<string, unknown> & { active: boolean };

/**
 * Why a token was out of the caller's view: logged (debug) and counted for the operator, never
 * sent (RFC 7662 §2.2). A fixed set, so it can be a metric label (docs/endpoints.md#introspection).
 */
export type InactiveReason =
  | 'malformed'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'revoked'
  | 'wrong_audience'
  | 'other_client'
  | 'not_found';

const REJECTION_REASON: Record<string, InactiveReason> = {
  malformed: 'malformed',
  bad_header: 'malformed',
  claims: 'malformed',
  unknown_key: 'unknown_key',
  bad_signature: 'bad_signature',
  expired: 'expired',
  not_yet_valid: 'not_yet_valid',
  revoked: 'revoked',
  wrong_audience: 'wrong_audience',
};

/** A lookup's answer: the live token, why it is not shown, or undefined (not this kind of token). */
type Lookup = Answer | { inactive: InactiveReason } | undefined;

/** RFC 7662 §2.2: anything not active is exactly this, with nothing more disclosed. */
const INACTIVE: Answer = { active: false };

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/** Introspection is a privilege of resource-server clients (`clients create --introspect`). */
export async function requireIntrospectFlag(ctx: Context, next: Next): Promise<void> {
  if (!authenticatedClient(ctx).client.canIntrospect) {
    throw new OAuthError('access_denied', 'client is not allowed to introspect tokens');
  }
  await next();
}

async function accessTokenAnswer(deps: IntrospectDeps, caller: ClientRecord, token: string): Promise<Lookup> {
  // Cheap shape check first: an opaque refresh token is never a JWS.
  if (token.split('.').length !== 3) return undefined;
  try {
    // The caller sees only tokens meant for one of its registered audiences (docs/endpoints.md).
    // One registered without any has the ISSUER as its default audience, which is Tessera's own
    // (every default-audience user token and every admin token carry it): such a caller sees only
    // the tokens issued to itself (docs/security.md).
    const c = caller.audienceIsDefault
      ? await deps.verifier.verify(token)
      : await deps.verifier.verify(token, { audiences: caller.audiences });
    if (caller.audienceIsDefault && c.client_id !== caller.id) {
      const aud = typeof c.aud === 'string' ? [c.aud] : c.aud;
      const forCaller = aud.some((a) => caller.audiences.includes(a));
      return { inactive: forCaller ? 'other_client' : 'wrong_audience' };
    }
    return {
      active: true,
      ...(c.scope !== undefined ? { scope: c.scope } : {}),
      client_id: c.client_id,
      ...(c.username !== undefined ? { username: c.username } : {}),
      sub: c.sub,
      aud: c.aud,
      iss: c.iss,
      exp: c.exp,
      iat: c.iat,
      nbf: c.nbf,
      jti: c.jti,
      // RFC 9449 §6.2: a bound token shows its key and the DPoP type, so a resource server that
      // introspects can demand the proof (RFC 7662 §2.2 token_type, RFC 6749 §7.1).
      ...(c.cnf ? { cnf: { jkt: c.cnf.jkt }, token_type: 'DPoP' } : { token_type: 'Bearer' }),
    } satisfies Answer;
  } catch (err) {
    if (err instanceof TokenRejected) {
      // Counted like any other rejection; the caller only ever learns "inactive".
      emitSignal(deps.events, 'token.rejected', { reason: err.reason });
      return { inactive: REJECTION_REASON[err.reason] ?? 'malformed' };
    }
    throw err;
  }
}

async function refreshTokenAnswer(
  deps: IntrospectDeps,
  caller: ClientRecord,
  token: string,
): Promise<Lookup> {
  // Refresh tokens are 256-bit base64url strings; anything far off is not worth a query.
  if (token.length > 512) return undefined;
  const view = await deps.liveRefreshTokens.inspect(sha256(token), new Date(deps.now()));
  if (!view) return { inactive: 'not_found' };
  // Only the owner sees its refresh tokens; for anyone else they do not exist.
  if (view.clientId !== caller.id) return { inactive: 'other_client' };
  return {
    active: true,
    scope: view.scope,
    client_id: view.clientId,
    username: view.username,
    sub: view.userId,
    aud: view.aud,
    iss: deps.issuer,
    exp: seconds(view.exp),
    iat: seconds(view.iat),
    nbf: seconds(view.iat),
    jti: view.tokenId,
    token_type: 'refresh_token',
  } satisfies Answer;
}

/** RFC 7662 §2.2: the answer for the presented token, `{"active": false}` unless it is live. */
export function introspectToken(deps: IntrospectDeps) {
  return async function introspectToken(ctx: Context): Promise<void> {
    const p = params(ctx);
    const token = p.get('token');
    if (token === undefined) throw invalidRequest("missing required parameter 'token'");
    const { client } = authenticatedClient(ctx);
    // RFC 7662 §2.1: the hint only orders the lookups; a wrong or unknown hint changes nothing.
    const lookups =
      p.get('token_type_hint') === 'refresh_token'
        ? [refreshTokenAnswer, accessTokenAnswer]
        : [accessTokenAnswer, refreshTokenAnswer];
    const reasons: Partial<Record<'access' | 'refresh', InactiveReason>> = {};
    for (const lookup of lookups) {
      const answer = await lookup(deps, client, token);
      if (answer && 'active' in answer) {
        emitSignal(deps.events, 'introspection.answered', { clientId: client.id, active: true });
        ctx.body = answer;
        return;
      }
      if (answer) reasons[lookup === accessTokenAnswer ? 'access' : 'refresh'] = answer.inactive;
    }
    // A JWS-shaped token is an access token: its reason says more than "no such refresh token".
    const reason = reasons.access ?? reasons.refresh ?? 'malformed';
    emitSignal(deps.events, 'introspection.answered', { clientId: client.id, active: false, reason });
    ctx.body = INACTIVE;
  };
}
