import type { Context } from 'koa';
import { invalidRequest } from '../errors.js';
import { accessTokenRevoked } from '../facts/facts.js';
import type { FactSink } from '../facts/publisher.js';
import { requestStamp } from '../facts/stamp.js';
import { authenticatedClient } from '../http/client_auth.js';
import { params } from '../http/params.js';
import { looksLikeRefreshToken } from '../sessions/tokens.js';
import type { AuditStamp, ClientRecord, RefreshTokenStore } from '../stores/types.js';
import { type AccessTokenVerifier, TokenRejected } from '../tokens/access_token.js';
import { sha256 } from '../tokens/secrets.js';

export interface RevokeEndpointDeps {
  /** A refresh token's revocation ends its family, audited in the store's transaction. */
  refreshTokens: Pick<RefreshTokenStore, 'revokeByHash'>;
  verifier: AccessTokenVerifier;
  /** Access-token revocations: denylisted, audited, published (a refresh token's is written in its family's transaction). */
  facts: FactSink;
}

/** RFC 7009 §2.1 hint values (RFC 7009 §4.1.2 registry). */
type Hint = 'access_token' | 'refresh_token';

type Outcome = 'revoked' | 'not_found' | 'wrong_client';

/** RFC 7009 for a refresh token: revokes its family if `client` owns it. */
async function revokeRefreshToken(
  deps: RevokeEndpointDeps,
  client: ClientRecord,
  token: string,
  stamp: AuditStamp,
): Promise<Outcome> {
  if (!looksLikeRefreshToken(token)) return 'not_found';
  const ending = { reason: 'revoked_by_client', audit: stamp };
  return (await deps.refreshTokens.revokeByHash(sha256(token), client.id, ending)).kind;
}

async function revokeAccessToken(
  deps: RevokeEndpointDeps,
  client: ClientRecord,
  token: string,
  stamp: AuditStamp,
): Promise<Outcome> {
  let claims: Awaited<ReturnType<AccessTokenVerifier['verifySignature']>>;
  try {
    // Signature and claims only: an already denylisted token is revoked again harmlessly.
    claims = await deps.verifier.verifySignature(token);
  } catch (err) {
    if (err instanceof TokenRejected) return 'not_found';
    throw err;
  }
  if (claims.client_id !== client.id) return 'wrong_client';
  // Blocked by its `jti` until it expires on its own (after that it is refused anyway).
  await deps.facts.record(stamp, [accessTokenRevoked(claims)]);
  return 'revoked';
}

/**
 * RFC 7009 §2.1: the hint only orders the lookups; a token of the other type is still found.
 * JWT access tokens and opaque refresh tokens cannot be confused, but trying both keeps the
 * endpoint honest for clients that send a wrong hint.
 */
export function revokeToken(deps: RevokeEndpointDeps) {
  return async function revokeToken(ctx: Context): Promise<void> {
    const p = params(ctx);
    const token = p.get('token');
    if (token === undefined) throw invalidRequest('token is required');
    // RFC 7009 §2.1: the hint only orders the lookups; an unknown value is ignored ("the
    // authorization server ... MAY ignore it"), not unsupported_token_type: Tessera revokes every
    // token type it issues, whatever the hint says.
    const hint = p.get('token_type_hint');
    const { client, method } = authenticatedClient(ctx);
    const stamp = requestStamp(ctx, client.id);
    const lookups: Record<Hint, () => Promise<Outcome>> = {
      refresh_token: () => revokeRefreshToken(deps, client, token, stamp),
      access_token: () => revokeAccessToken(deps, client, token, stamp),
    };
    const order: Hint[] =
      hint === 'access_token' ? ['access_token', 'refresh_token'] : ['refresh_token', 'access_token'];
    let outcome: Outcome = 'not_found';
    for (const kind of order) {
      outcome = await lookups[kind]();
      if (outcome !== 'not_found') break;
    }
    // RFC 7009 §2.1: a token issued to another client is refused and the client told so; nothing is
    // revoked. As in node-oidc-provider, a public client (which proves no identity) gets the same
    // 200 as for an unknown token, so it cannot use /revoke to learn that a token is valid.
    if (outcome === 'wrong_client' && method !== 'none') {
      throw invalidRequest('the token was not issued to this client', 'revoke: foreign token refused');
    }
    // RFC 7009 §2.2: 200 for revoked, unknown and invalid tokens alike; the body is ignored. An empty
    // JSON object rather than no body: strict client libraries (simple-oauth2) parse every answer.
    ctx.status = 200;
    ctx.body = {};
  };
}
