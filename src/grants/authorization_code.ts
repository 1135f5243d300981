import { randomUUID, timingSafeEqual } from 'node:crypto';
import { AUTHORIZATION_CODE } from '../authorize/codes.js';
import { verifierMatches } from '../authorize/pkce.js';
import { type DpopBinding, refreshBinding } from '../dpop/binding.js';
import { invalidGrant, invalidRequest } from '../errors.js';
import type { FactPublisher } from '../facts/publisher.js';
import { boundByClient } from '../sessions/bounds.js';
import { type StartSessionDeps, startSession } from '../sessions/start.js';
import type {
  AuditStamp,
  AuthorizationCodeRecord,
  AuthorizationCodeStore,
  ClientRecord,
  RefreshTokenStore,
  UserStore,
} from '../stores/types.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';
import { sha256 } from '../tokens/secrets.js';
import { issueUserToken } from './issue_token.js';
import { narrowAudience } from './scope.js';
import type { GrantHandler } from './types.js';

export interface AuthorizationCodeGrantDeps {
  codes: AuthorizationCodeStore;
  /** Starts the code's session; ends it (and a replayed code's) on the refresh store. */
  sessions: StartSessionDeps & { refreshTokens: Pick<RefreshTokenStore, 'revokeFamily'> };
  users: Pick<UserStore, 'findById'>;
  minter: AccessTokenMinter;
  /** After the work is done: its facts to events, metrics and logs. */
  publisher: Pick<FactPublisher, 'published'>;
  accessTokenTtl: number;
  now: () => number;
}

/**
 * RFC 6749 §4.1.3: redirect_uri must be identical to the one the code was issued for. It may be
 * left out only where the authorization request could leave it out (exactly one is registered).
 */
function redirectMatches(client: ClientRecord, code: AuthorizationCodeRecord, presented: string | undefined) {
  if (presented !== undefined) return presented === code.redirectUri;
  return client.redirectUris.length === 1 && client.redirectUris[0] === code.redirectUri;
}

/**
 * The code's bindings to who presents it (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9449 §10): the
 * client it was issued to, its redirect_uri, the PKCE verifier, the DPoP key the request named.
 * The public answer is always the same.
 */
function checkPresenter(
  client: ClientRecord,
  code: AuthorizationCodeRecord,
  input: { redirectUri: string | undefined; verifier: string; dpop: DpopBinding | undefined },
): void {
  if (code.clientId !== client.id) throw invalidGrant('code issued to another client');
  if (!redirectMatches(client, code, input.redirectUri)) throw invalidGrant('redirect_uri mismatch');
  if (!verifierMatches(input.verifier, code.codeChallenge)) throw invalidGrant('PKCE verifier mismatch');
  // RFC 9449 §10.1: a code requested with dpop_jkt is redeemed only with a proof by that key.
  if (code.dpopJkt !== null && !jktMatches(code.dpopJkt, input.dpop?.jkt))
    throw invalidGrant('dpop_jkt of the authorization request does not match the proof key');
}

function jktMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5). A code works once; its own client presenting a used
 * code again denies the request and revokes the session the code started (RFC 6749 §4.1.2), so a
 * code stolen after use cannot be replayed into a second session, and the first one ends with it.
 * A disabled user's code is refused even if it was issued before the user was disabled.
 */
export function authorizationCodeGrant(deps: AuthorizationCodeGrantDeps): GrantHandler {
  // The session's end is audited with the replaying request's stamp, like every other end.
  const replayed = async (client: ClientRecord, code: AuthorizationCodeRecord, stamp: AuditStamp) => {
    await deps.publisher.published([
      { type: 'code.reuse_detected', clientId: client.id, familyId: code.familyId ?? undefined },
    ]);
    if (code.familyId)
      await deps.sessions.refreshTokens.revokeFamily(code.familyId, { reason: 'code_reuse', audit: stamp });
    return invalidGrant('authorization code presented again: its session is revoked');
  };

  return {
    grantType: 'authorization_code',
    async handle({ client, params, dpop, stamp }) {
      const presented = params.get('code');
      const verifier = params.get('code_verifier');
      if (presented === undefined) throw invalidRequest('code is required');
      // RFC 7636 §4.5: PKCE is required for every client, so the verifier is too.
      if (verifier === undefined) throw invalidRequest('code_verifier is required');
      if (!AUTHORIZATION_CODE.test(presented)) throw invalidGrant('malformed code');
      const hash = sha256(presented);
      const code = await deps.codes.findByHash(hash);
      if (!code) throw invalidGrant('unknown code');
      // Only the code's own client, with its redirect_uri and verifier, may trigger the replay
      // revocation: anyone else holding a leaked used code gets invalid_grant and changes nothing.
      checkPresenter(client, code, { redirectUri: params.get('redirect_uri'), verifier, dpop });
      if (code.usedAt) {
        const marked = await deps.codes.markReplayed(hash, new Date(deps.now()));
        throw await replayed(client, marked ?? code, stamp);
      }
      if (code.expiresAt.getTime() <= deps.now()) throw invalidGrant('code expired');
      // The client as it is now bounds the code, as it bounds every refresh (docs/sessions.md): a
      // scope or audience removed since /authorize is not granted; with no audience left, nothing is.
      const bounds = boundByClient(code, client);
      if (!bounds) throw invalidGrant('no audience of the code is allowed for the client any more');
      const scope = bounds.scope.join(' ');
      const audience = narrowAudience(params.get('resource'), bounds.audience);

      const sid = randomUUID();
      const outcome = await deps.codes.redeem(hash, sid, new Date(deps.now()));
      if (outcome.kind === 'not_found') throw invalidGrant('unknown code');
      if (outcome.kind === 'replayed') throw await replayed(client, outcome.code, stamp);
      const user = await deps.users.findById(code.userId);
      if (!user || user.disabledAt) throw invalidGrant('user disabled or gone');
      const session = await startSession(deps.sessions, {
        sid,
        stamp,
        userId: user.id,
        client,
        scope,
        audience: bounds.audience,
        loginSessionId: code.loginSessionId,
        dpopJkt: refreshBinding(client, dpop),
      });
      // A replay that arrived while this session was being created found no session to revoke.
      if (await deps.codes.wasReplayed(hash)) {
        await deps.sessions.refreshTokens.revokeFamily(sid, { reason: 'code_reuse', audit: stamp });
        throw invalidGrant('authorization code presented twice at once: its session is revoked');
      }
      return issueUserToken(deps, {
        grantType: 'authorization_code',
        client,
        user,
        audience,
        scope,
        sid: session.sid,
        refreshToken: client.grantTypes.includes('refresh_token') ? session.refreshToken : undefined,
        dpop,
      });
    },
  };
}
