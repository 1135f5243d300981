import { randomUUID } from 'node:crypto';
import type { LoginSucceeded } from '../facts/facts.js';
import type { AuditStamp, ClientRecord, RefreshTokenStore } from '../stores/types.js';
import { newRefreshToken, type SessionSettings } from './tokens.js';

export interface StartSessionDeps {
  refreshTokens: Pick<RefreshTokenStore, 'createFamily'>;
  settings: SessionSettings;
  now: () => number;
}

export interface NewSession {
  userId: string;
  client: ClientRecord;
  scope: string;
  audience: string[];
  /** Who started the session: the stamp of the audit rows of the sessions its start evicts. */
  stamp?: AuditStamp;
  /** The family id, when the caller had to name it first (an authorization code records it). */
  sid?: string;
  /** The login session of /authorize whose code starts this family. */
  loginSessionId?: string | null;
  /** RFC 9449 §5: bind the family's refresh tokens to this DPoP key (src/dpop/binding.ts). */
  dpopJkt?: string;
  /** The sign-in that starts the session: audited in its transaction, with the family as `sessionId`. */
  login?: LoginSucceeded;
}

/**
 * One login (password grant, code redemption): a new refresh family, whose id is the `sid` of its
 * access tokens, and its first refresh token. The family lives REFRESH_TOKEN_MAX_AGE (the
 * client's own, if set); a user holds at most MAX_SESSIONS_PER_USER, the oldest beyond it end
 * (`session_limit`) in the same transaction (docs/sessions.md).
 */
export async function startSession(
  deps: StartSessionDeps,
  input: NewSession,
): Promise<{ sid: string; refreshToken: string }> {
  const now = deps.now();
  const maxAge = input.client.refreshTokenMaxAge ?? deps.settings.refreshTokenMaxAge;
  const family = {
    id: input.sid ?? randomUUID(),
    userId: input.userId,
    clientId: input.client.id,
    scope: input.scope,
    audience: input.audience,
    createdAt: new Date(now),
    expiresAt: new Date(now + maxAge * 1000),
    loginSessionId: input.loginSessionId ?? null,
    dpopJkt: input.dpopJkt ?? null,
  };
  const token = newRefreshToken(input.client, deps.settings, now);
  await deps.refreshTokens.createFamily(family, token.record, {
    maxLiveFamilies: deps.settings.maxSessionsPerUser,
    evict: { reason: 'session_limit', at: new Date(now), audit: input.stamp },
    facts: input.login ? [{ ...input.login, sessionId: family.id }] : [],
  });
  return { sid: family.id, refreshToken: token.value };
}
