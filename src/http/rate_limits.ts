import { createHash } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimitConfig } from '../config.js';
import { OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { LoginAttempt, LoginThrottle } from '../grants/login_throttle.js';
import { authenticatedClient } from './client_auth.js';
import type { LimiterFactory } from './limiter_store.js';

/**
 * Consecutive failures of one username+IP are remembered this long from the first one (and reset
 * by a success). A day is long enough that the doubling backoff keeps growing through a slow
 * attack, short enough that a forgotten typo streak does not haunt a user forever.
 */
export const LOGIN_FAILURE_MEMORY_S = 86_400;

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
    // Present means locked: taken (one point, for the lockout of that attempt) by the attempt
    // that may end the streak, so only one such attempt runs and a failure leaves the lock behind.
    this.pairLock = deps.limiter({
      name: 'login_lock',
      points: 1,
      duration: deps.limits.loginLockoutMax,
    });
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
   * Counts a login attempt before any hashing. Attempt k of a streak (k = the pair's count) runs
   * freely while k < RATE_LIMIT_LOGIN_FAILURES; from the limit on, an attempt runs only if it takes
   * the pair's lock first, for the lockout its failure would earn (the base, doubling with every
   * further failure up to the maximum). So a parallel burst gets at most the limit's worth of
   * hashes, and each lockout lets exactly one more guess through.
   */
  async begin(username: string, ip: string): Promise<LoginAttempt> {
    const key = pairKey(username, ip);
    const { loginFailuresPerUserIp: perPair, loginFailuresPerIpHour: perIp } = this.limits;
    const lock = await this.pairLock.get(key);
    if (lock && lock.consumedPoints > 0 && lock.msBeforeNext > 0) {
      throw this.exceeded('login_user_ip', perPair, lock.msBeforeNext);
    }
    const ipCount = await this.consume(this.ipFailures, ip);
    if (ipCount && ipCount.consumedPoints > perIp) {
      throw this.exceeded('login_ip', perIp, ipCount.msBeforeNext);
    }
    const streak = (await this.consume(this.pairFailures, key))?.consumedPoints ?? 1;
    const locking = streak >= perPair;
    const lockout = Math.min(
      this.limits.loginLockoutBase * 2 ** Math.min(Math.max(streak - perPair, 0), 30),
      this.limits.loginLockoutMax,
    );
    if (locking) {
      const gate = await this.consume(this.pairLock, key, { customDuration: lockout });
      if (gate && gate.consumedPoints > 1) {
        // Another attempt holds the lock: this one never ran, so it costs nothing.
        await Promise.all([this.refund(this.pairFailures, key), this.refund(this.ipFailures, ip)]);
        throw this.exceeded('login_user_ip', perPair, gate.msBeforeNext);
      }
    }
    return {
      failed: async () => {
        // The lock was taken when the attempt began; the lockout runs from the failure.
        if (locking) await this.pairLock.block(key, lockout);
        return locking;
      },
      succeeded: async () => {
        await Promise.all([
          this.pairFailures.delete(key),
          this.pairLock.delete(key),
          this.refund(this.ipFailures, ip),
        ]);
      },
      abandoned: async () => {
        await Promise.all([
          this.refund(this.pairFailures, key),
          this.refund(this.ipFailures, ip),
          locking ? this.pairLock.delete(key) : undefined,
        ]);
      },
    };
  }

  /**
   * Per-client request limit (per client and IP for public clients); runs after client
   * authentication so nobody spends another confidential client's budget.
   */
  perClient(endpoint: 'token' | 'introspect'): Middleware {
    const limiter = this.clientLimiters[endpoint];
    const name: LimiterName = endpoint === 'token' ? 'client_token' : 'client_introspect';
    return async (ctx: Context, next: Next) => {
      const { client, method } = authenticatedClient(ctx);
      const limit = this.limits.clientRequestsPerMinute;
      // A public client proves nothing but its id, which anyone can send: counted per client and
      // IP, so strangers cannot spend the budget of that app's real users.
      const key = method === 'none' ? `${client.id}|${ctx.ip}` : client.id;
      let res: RateLimiterRes;
      try {
        res = await limiter.consume(key);
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
  private async consume(
    limiter: RateLimiterAbstract,
    key: string,
    options?: { customDuration: number },
  ): Promise<RateLimiterRes | undefined> {
    try {
      return await limiter.consume(key, 1, options);
    } catch (res) {
      if (res instanceof RateLimiterRes) return res;
      throw res;
    }
  }

  /** Gives one point back (never below zero: a window that expired meanwhile stays empty). */
  private async refund(limiter: RateLimiterAbstract, key: string): Promise<void> {
    const current = await limiter.get(key);
    if (current && current.consumedPoints > 0) await limiter.reward(key, 1);
  }
}
