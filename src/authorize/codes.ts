import type { AuthorizationCodeRecord, AuthorizationCodeStore } from '../stores/types.js';
import { randomToken, sha256 } from '../tokens/secrets.js';

export interface CodeIssuerDeps {
  store: Pick<AuthorizationCodeStore, 'create'>;
  /** AUTHORIZATION_CODE_TTL in seconds. */
  ttl: number;
  now: () => number;
}

/** What a code is bound to (RFC 6749 §4.1.2, RFC 7636 §4.4, RFC 9449 §10). */
export type CodeGrantRequest = Pick<
  AuthorizationCodeRecord,
  'clientId' | 'userId' | 'redirectUri' | 'codeChallenge' | 'scope' | 'audience'
> & {
  /** The login session that issues the code: the family the code starts remembers it. */
  loginSessionId?: string | null;
  /** The authorization request's `dpop_jkt`, when it had one. */
  dpopJkt?: string | null;
};

/** Codes are opaque like refresh tokens: 256 random bits, and only their SHA-256 is stored. */
export const AUTHORIZATION_CODE = /^[A-Za-z0-9_-]{43}$/;

/** Issues a single-use code bound to the client, the redirect URI and the PKCE challenge. */
export async function issueAuthorizationCode(
  deps: CodeIssuerDeps,
  request: CodeGrantRequest,
): Promise<string> {
  const code = randomToken(32);
  const now = deps.now();
  await deps.store.create({
    ...request,
    hash: sha256(code),
    createdAt: new Date(now),
    expiresAt: new Date(now + deps.ttl * 1000),
  });
  return code;
}
