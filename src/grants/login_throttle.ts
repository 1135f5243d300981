/**
 * Brute-force protection of the password grant, implemented by http/rate_limits.ts.
 * `check` runs before any hashing and throws a 429 OAuthError when the pair or IP is locked, or
 * when another attempt for the pair is still in flight (so a parallel burst cannot outrun the
 * failure count). It returns the release of that in-flight slot.
 */
export interface LoginThrottle {
  check(username: string, ip: string): Promise<() => Promise<void>>;
  /** Counts a failure; true when this failure locked the pair (a `login.locked` audit event). */
  recordFailure(username: string, ip: string): Promise<boolean>;
  recordSuccess(username: string, ip: string): Promise<void>;
}
