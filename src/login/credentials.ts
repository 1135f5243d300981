import type { LoginFact, LoginFailureReason, LoginMethod, LoginSucceeded } from '../facts/facts.js';
import type { FactSink } from '../facts/publisher.js';
import type { AuditStamp, UserRecord, UserStore } from '../stores/types.js';
import { HashingBusy } from '../tokens/hashing_queue.js';
import type { PasswordHasher } from '../tokens/passwords.js';
import type { LoginThrottle } from './throttle.js';

/**
 * What checking a password needs: the password grant and the login page of /authorize share it,
 * and with it one throttle (docs/security.md).
 */
export interface CredentialDeps {
  /** The login facts of an attempt are written once here (src/facts/publisher.ts). */
  facts: FactSink;
  users: Pick<UserStore, 'findByUsername'>;
  hasher: Pick<PasswordHasher, 'verify' | 'verifyUnknownUser'>;
  throttle: LoginThrottle;
}

/** One sign-in attempt: who typed what, through which client, from where. */
export interface SignInAttempt {
  clientId: string;
  username: string;
  password: string;
  /** The client address the throttle counts (an IPv6 client by its network, rate_limits.ts). */
  ip: string;
  /** The request's audit stamp, for every fact of this attempt. */
  stamp: AuditStamp;
  method: LoginMethod;
}

/**
 * How a sign-in ended. Each endpoint maps this to its own answer: the password grant to
 * invalid_grant / 429 / 503, the login page to its generic failure message / 429 page / 503 page.
 * `bad_credentials` and `disabled` must look the same to the caller.
 */
export type CredentialResult<S> =
  | { kind: 'ok'; user: UserRecord; session: S }
  | { kind: 'bad_credentials' }
  | { kind: 'disabled' }
  /** The throttle refused the attempt before any hashing (RFC 6585 §4). */
  | { kind: 'locked'; limit: number; retryAfterSeconds: number }
  /** The server-wide hashing queue is full (RFC 9110 §15.6.4); the attempt cost nothing. */
  | { kind: 'busy'; retryAfterSeconds: number };

/**
 * What a right password opens (a refresh family, a login session). An opener with a transaction
 * writes `succeeded` in it and says `recorded`; otherwise its `sessionId` goes into the
 * `login.succeeded` row written here.
 */
export type OpenSession<S> = (
  user: UserRecord,
  succeeded: LoginSucceeded,
) => Promise<S & { sessionId?: string; recorded?: boolean }>;

/** Usernames and passwords are bounded so a request cannot turn argon2 into a DoS. */
const MAX_CREDENTIAL_LENGTH = 1024;

/** Checks the password, or burns the same work for an unknown user (no timing difference). */
async function passwordMatches(deps: CredentialDeps, user: UserRecord | undefined, password: string) {
  return user ? deps.hasher.verify(user.passwordHash, password) : deps.hasher.verifyUnknownUser(password);
}

/**
 * A password sign-in under the throttle (docs/redis.md, "Rate limits"). The attempt is counted
 * before any hashing, so a locked or spent username+IP pair or IP costs no argon2 work; a
 * disabled user's right password counts as a failure, so the throttle never tells a guesser which
 * password was right. Every outcome is recorded once here as a login fact (src/facts/facts.ts).
 */
export async function authenticateUser<S>(
  deps: CredentialDeps,
  attempt: SignInAttempt,
  open: OpenSession<S>,
): Promise<CredentialResult<S>> {
  const { username, password } = attempt;
  if (username.length > MAX_CREDENTIAL_LENGTH || password.length > MAX_CREDENTIAL_LENGTH) {
    return { kind: 'bad_credentials' };
  }
  const counted = await deps.throttle.begin(username, attempt.ip);
  if (counted.refused) {
    return { kind: 'locked', limit: counted.limit, retryAfterSeconds: counted.retryAfterSeconds };
  }
  let user: UserRecord | undefined;
  let matches: boolean;
  try {
    user = await deps.users.findByUsername(username);
    matches = await passwordMatches(deps, user, password);
  } catch (err) {
    // Not an answer about the password (hashing queue full, database down): it costs nothing.
    await counted.abandoned();
    if (err instanceof HashingBusy) return { kind: 'busy', retryAfterSeconds: err.retryAfterSeconds };
    throw err;
  }
  const base = { clientId: attempt.clientId, username, method: attempt.method };
  if (!user || !matches || user.disabledAt) {
    const reason: LoginFailureReason = !user ? 'unknown_user' : !matches ? 'bad_password' : 'disabled';
    const locked = await counted.failed();
    const facts: LoginFact[] = [{ ...base, type: 'login.failed', reason, userId: user?.id }];
    if (locked) facts.push({ ...base, type: 'login.locked' });
    await deps.facts.record(attempt.stamp, facts);
    return reason === 'disabled' ? { kind: 'disabled' } : { kind: 'bad_credentials' };
  }
  await counted.succeeded();
  const succeeded: LoginSucceeded = {
    ...base,
    type: 'login.succeeded',
    username: user.username,
    userId: user.id,
  };
  const session = await open(user, succeeded);
  if (!session.recorded)
    await deps.facts.record(attempt.stamp, [{ ...succeeded, sessionId: session.sessionId }]);
  return { kind: 'ok', user, session };
}
