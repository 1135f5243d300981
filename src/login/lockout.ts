import type { RateLimitConfig } from '../config.js';

type LockoutLimits = Pick<RateLimitConfig, 'loginFailuresPerUserIp' | 'loginLockoutBase' | 'loginLockoutMax'>;

/**
 * Seconds a username+IP pair stays locked after the failure that brought its streak to `streak`:
 * none below RATE_LIMIT_LOGIN_FAILURES, then the base, doubling with every further failure up to
 * the maximum (docs/configuration.md).
 */
export function lockoutSeconds(streak: number, limits: LockoutLimits): number {
  if (streak < limits.loginFailuresPerUserIp) return 0;
  const doublings = Math.min(streak - limits.loginFailuresPerUserIp, 30);
  return Math.min(limits.loginLockoutBase * 2 ** doublings, limits.loginLockoutMax);
}

/**
 * Lock ends are stored as whole seconds since this instant: the shared counters (Redis, or the
 * Postgres `rate_limits` table, whose `points` column is a 32-bit integer) hold integers, and
 * seconds since 2026 fit one until 2094.
 */
export const LOCK_EPOCH_MS = Date.UTC(2026, 0, 1);

/**
 * The stored form of "locked until `now + seconds`": rounded up to a whole second, so a lock is
 * never shorter than its lockout (and Retry-After may say one second more).
 */
export const lockEnd = (now: number, seconds: number): number =>
  Math.max(1, Math.ceil((now - LOCK_EPOCH_MS) / 1000) + seconds);

/** Seconds left of a stored lock end, 0 when it is over. */
export function secondsLocked(end: number, now: number): number {
  const left = LOCK_EPOCH_MS + end * 1000 - now;
  return left > 0 ? Math.ceil(left / 1000) : 0;
}
