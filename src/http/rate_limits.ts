import { createHash } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimitConfig } from '../config.js';
import { OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { LoginThrottle } from '../grants/login_throttle.js';
import { authenticatedClient } from './client_auth.js';
import type { LimiterFactory } from './limiter_store.js';

/**
 * Consecutive failures of one username+IP are remembered this long from the first one (and reset
 * by a success). A day is long enough that the doubling backoff keeps growing through a slow
 * attack, short enough that a forgotten typo streak does not haunt a user forever.
 */
export const LOGIN_FAILURE_MEMORY_S = 86_400;

/** Longest a login attempt may hold its pair's in-flight slot if its release never runs. */
export const LOGIN_IN_FLIGHT_MAX_S = 30;

export type LimiterName = 'login_user_ip' | 'login_ip' | 'client_token' | 'client_introspect';

export interface RateLimitDeps {
  /** Builds each limiter on the chosen store: Redis, Postgres or memory (src/http/limiter_store.ts). */
  limiter: LimiterFactory;
  limits: RateLimitConfig;
  events: EventBus;
}

/** The pair key is a digest: bounded length, no raw usernames in Redis, no hash-tag surprises. */
const pairKey = (username: string, ip: string) =>
  createHash('sha256').update(`${username}\0${ip}`).digest('base64url');

/**
 * 429 with Retry-After (RFC 9110 §10.2.3) and the RateLimit-* fields of
 * draft-ietf-httpapi-ratelimit-headers (delta seconds). Rendered by the one error handler.
 */
function tooManyRequests(limit: number, msBeforeNext: number): OAuthError {
  const seconds = String(Math.max(1, Math.ceil(msBeforeNext / 1000)));
  return new OAuthError('rate_limited', 'too many requests; retry later', {
    headers: {
      'Retry-After': seconds,
      'RateLimit-Limit': String(limit),
      'RateLimit-Remaining': '0',
      'RateLimit-Reset': seconds,
    },
  });
}

/**
 * Every rate limit (docs/redis.md): the password-login throttle (per username+IP with a doubling
 * lockout, per IP per hour) and the per-client request limits of /token and /introspect.
 */
export class RateLimits implements LoginThrottle {
  private readonly pairFailures: RateLimiterAbstract;
  private readonly pairLock: RateLimiterAbstract;
  private readonly pairBusy: RateLimiterAbstract;
  private readonly ipFailures: RateLimiterAbstract;
  private readonly clientLimiters: Record<'token' | 'introspect', RateLimiterAbstract>;
  private readonly limits: RateLimitConfig;
  private readonly events: EventBus;

  constructor(deps: RateLimitDeps) {
    this.limits = deps.limits;
    this.events = deps.events;
    this.pairFailures = deps.limiter({
      name: 'login_fail',
      points: deps.limits.loginFailuresPerUserIp,
      duration: LOGIN_FAILURE_MEMORY_S,
    });
    // Only ever `block`ed: present means locked, for the lockout just computed.
    this.pairLock = deps.limiter({
      name: 'login_lock',
      points: 1,
      duration: deps.limits.loginLockoutMax,
    });
    // One attempt in flight per pair: its point is returned when the attempt ends (or after this
    // long, should the process die mid-attempt).
    this.pairBusy = deps.limiter({ name: 'login_busy', points: 1, duration: LOGIN_IN_FLIGHT_MAX_S });
    this.ipFailures = deps.limiter({
      name: 'login_ip',
      points: deps.limits.loginFailuresPerIpHour,
      duration: 3600,
    });
    const perClient = { points: deps.limits.clientRequestsPerMinute, duration: 60 };
    this.clientLimiters = {
      token: deps.limiter({ name: 'client_token', ...perClient }),
      introspect: deps.limiter({ name: 'client_introspect', ...perClient }),
    };
  }

  /**
   * Before any password hashing: a locked pair or a noisy IP gets 429 without costing argon2. A
   * pair with an attempt still in flight gets 429 too: otherwise a burst of parallel guesses would
   * all pass this check before the first failure is counted. Returns the release of the slot.
   */
  async check(username: string, ip: string): Promise<() => Promise<void>> {
    const key = pairKey(username, ip);
    const [lock, perIp] = await Promise.all([this.pairLock.get(key), this.ipFailures.get(ip)]);
    if (lock && lock.consumedPoints > 0 && lock.msBeforeNext > 0) {
      throw this.exceeded('login_user_ip', this.limits.loginFailuresPerUserIp, lock.msBeforeNext);
    }
    if (perIp && perIp.consumedPoints >= this.limits.loginFailuresPerIpHour) {
      throw this.exceeded('login_ip', this.limits.loginFailuresPerIpHour, perIp.msBeforeNext);
    }
    const slot = await this.consume(this.pairBusy, key);
    if (slot && slot.consumedPoints > 1) {
      throw this.exceeded('login_user_ip', this.limits.loginFailuresPerUserIp, 1000);
    }
    return async () => {
      await this.pairBusy.delete(key).catch(() => undefined);
    };
  }

  /**
   * Counts a failed login. The Nth consecutive failure (N = RATE_LIMIT_LOGIN_FAILURES) locks the
   * pair for the base lockout; every further failure doubles it, up to the maximum.
   */
  async recordFailure(username: string, ip: string): Promise<boolean> {
    const key = pairKey(username, ip);
    const [pair] = await Promise.all([
      this.consume(this.pairFailures, key),
      this.consume(this.ipFailures, ip),
    ]);
    if (!pair) return false;
    const beyond = pair.consumedPoints - this.limits.loginFailuresPerUserIp;
    if (beyond < 0) return false;
    const lockout = Math.min(
      this.limits.loginLockoutBase * 2 ** Math.min(beyond, 30),
      this.limits.loginLockoutMax,
    );
    await this.pairLock.block(key, lockout);
    return true;
  }

  /** A success ends the streak of that pair (the per-IP hour window is kept). */
  async recordSuccess(username: string, ip: string): Promise<void> {
    const key = pairKey(username, ip);
    await Promise.all([this.pairFailures.delete(key), this.pairLock.delete(key)]);
  }

  /** Per-client request limit; runs after client authentication so nobody spends another's budget. */
  perClient(endpoint: 'token' | 'introspect'): Middleware {
    const limiter = this.clientLimiters[endpoint];
    const name: LimiterName = endpoint === 'token' ? 'client_token' : 'client_introspect';
    return async (ctx: Context, next: Next) => {
      const { client } = authenticatedClient(ctx);
      const limit = this.limits.clientRequestsPerMinute;
      let res: RateLimiterRes;
      try {
        res = await limiter.consume(client.id);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        throw this.exceeded(name, limit, err.msBeforeNext);
      }
      // The client's budget on every answer (draft-ietf-httpapi-ratelimit-headers), not only on 429.
      ctx.set('RateLimit-Limit', String(limit));
      ctx.set('RateLimit-Remaining', String(Math.max(0, res.remainingPoints)));
      ctx.set('RateLimit-Reset', String(Math.max(1, Math.ceil(res.msBeforeNext / 1000))));
      return next();
    };
  }

  private exceeded(limiter: LimiterName, limit: number, msBeforeNext: number): OAuthError {
    this.events.emit('ratelimit.exceeded', { limiter });
    return tooManyRequests(limit, msBeforeNext);
  }

  /** Consumes one point; being over the limit is an answer here, not an error. */
  private async consume(limiter: RateLimiterAbstract, key: string): Promise<RateLimiterRes | undefined> {
    try {
      return await limiter.consume(key);
    } catch (res) {
      if (res instanceof RateLimiterRes) return res;
      throw res;
    }
  }
}
