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
   * Counts one attempt for username+IP and for IP, or refuses it when the pair is locked or
   * either limit is spent; a refused attempt is never hashed.
   */
  begin(username: string, ip: string): Promise<CountedAttempt | ThrottleRefusal>;
}

/** Not checked at all: the answer is 429 with Retry-After (docs/redis.md, "Rate limits"). */
export interface ThrottleRefusal {
  refused: true;
  /** The limit that was hit, for the RateLimit-Limit field. */
  limit: number;
  retryAfterSeconds: number;
}

/** An attempt the throttle counted; the caller says how it ended. */
export interface CountedAttempt {
  refused: false;
  /**
   * The login failed (wrong password, unknown or disabled user): the points stay spent, and a
   * lockout this attempt earned starts now. True when this failure locked the pair.
   */
  failed(): Promise<boolean>;
  /** The login succeeded: the pair's failure streak ends and the IP's point is returned. */
  succeeded(): Promise<void>;
  /** The check itself could not run (hashing queue full, database down): every point is returned. */
  abandoned(): Promise<void>;
}
