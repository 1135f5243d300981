/**
 * Brute-force protection of every password check (the password grant and the login page),
 * implemented by http/rate_limits.ts; docs/security.md describes the limits.
 *
 * Attempts are counted when they start, before any password hashing, so a parallel burst gets at
 * most the limit's worth of argon2 work; a correct password gives its points back. There is no
 * "one attempt in flight" lock: correct logins of one user may run in parallel while the
 * username+IP pair is under its limit.
 */
export interface LoginThrottle {
  /**
   * Counts one attempt for username+IP and for IP. Throws a 429 OAuthError (with Retry-After)
   * when the pair is locked or either limit is spent; nothing is hashed then.
   */
  begin(username: string, ip: string): Promise<LoginAttempt>;
}

/** How a counted attempt ended. */
export interface LoginAttempt {
  /**
   * The password was wrong: the points stay spent, and a lockout this attempt earned starts now.
   * True when this failure locked the pair (a `login.locked` audit event).
   */
  failed(): Promise<boolean>;
  /** The password was right: the pair's failure streak ends and the IP's point is returned. */
  succeeded(): Promise<void>;
  /** The check itself could not run (hashing queue full, database down): every point is returned. */
  abandoned(): Promise<void>;
}
