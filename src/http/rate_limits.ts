import type { Context, Middleware, Next } from 'koa';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimitConfig } from '../config.js';
import { OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import { emitSignal } from '../facts/publisher.js';
import { lockEnd, lockoutSeconds, secondsLocked } from '../login/lockout.js';
import type { CountedAttempt, LoginThrottle, ThrottleRefusal } from '../login/throttle.js';
import { sha256 } from '../tokens/secrets.js';
import { authenticatedClient } from './client_auth.js';
import { ClientBudget } from './client_budget.js';
import { rateLimitAddress } from './client_ip.js';
import type { Limiter, LimiterFactory } from './limiter_store.js';

/**
 * Consecutive failures of one username+IP are remembered this long from the first one (and reset
 * by a success). A day is long enough that the doubling backoff keeps growing through a slow
 * attack, short enough that a forgotten typo streak does not haunt a user forever.
 */
export const LOGIN_FAILURE_MEMORY_S = 86_400;

/**
 * Longest an attempt past the limit holds its pair's gate: a hash waits at most a few seconds for
 * its turn, so this only matters when a process dies mid-check (its gate then frees itself).
 */
const GATE_HOLD_S = 60;

export type LimiterName = 'login_user_ip' | 'login_ip' | 'client_token' | 'client_introspect';

export interface RateLimitDeps {
  /** Builds each limiter on the chosen store: Redis, Postgres or memory (src/http/limiter_store.ts). */
  limiter: LimiterFactory;
  limits: RateLimitConfig;
  events: EventBus;
  /** The clock lockouts are decided by (the counters' own windows follow their store's clock). */
  now?: () => number;
}

/** The pair key is a digest: bounded length, no raw usernames in Redis, no hash-tag surprises. */
const pairKey = (username: string, ip: string) => sha256(`${username}\0${ip}`);

/**
 * 429 with Retry-After (RFC 9110 §10.2.3) and the RateLimit-* fields of
 * draft-ietf-httpapi-ratelimit-headers (delta seconds). Rendered by the one error handler.
 */
export function tooManyRequests(limit: number, retryAfterSeconds: number): OAuthError {
  const seconds = String(Math.max(1, Math.ceil(retryAfterSeconds)));
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
 * lockout, per IP per hour) and the per-client request limits of /token and /introspect. IP keys
 * are counted per RATE_LIMIT_IPV6_PREFIX network for IPv6 clients (client_ip.ts).
 */
export class RateLimits implements LoginThrottle {
  private readonly pairFailures: Limiter;
  private readonly pairLockEnd: Limiter;
  private readonly pairGate: Limiter;
  private readonly ipFailures: Limiter;
  /** Counted locally, one slice of the shared counter at a time (client_budget.ts). */
  private readonly clientBudgets: Record<'token' | 'introspect', ClientBudget>;
  private readonly limits: RateLimitConfig;
  private readonly events: EventBus;
  private readonly now: () => number;

  constructor(deps: RateLimitDeps) {
    this.limits = deps.limits;
    this.events = deps.events;
    this.now = deps.now ?? Date.now;
    this.pairFailures = deps.limiter({
      name: 'login_fail',
      points: deps.limits.loginFailuresPerUserIp,
      duration: LOGIN_FAILURE_MEMORY_S,
    });
    // The value is the lock's end (lockout.ts), decided by `now`; the store's expiry only cleans up.
    this.pairLockEnd = deps.limiter({
      name: 'login_until',
      points: 1,
      duration: deps.limits.loginLockoutMax + GATE_HOLD_S,
    });
    // Present means an attempt past the limit is being checked: only one such attempt runs at a time.
    this.pairGate = deps.limiter({ name: 'login_gate', points: 1, duration: GATE_HOLD_S });
    this.ipFailures = deps.limiter({
      name: 'login_ip',
      points: deps.limits.loginFailuresPerIpHour,
      duration: 3600,
    });
    const limit = deps.limits.clientRequestsPerMinute;
    const perClient = { points: limit, duration: 60 };
    this.clientBudgets = {
      token: new ClientBudget(deps.limiter({ name: 'client_token', ...perClient }), limit),
      introspect: new ClientBudget(deps.limiter({ name: 'client_introspect', ...perClient }), limit),
    };
  }

  /** The key an address is counted under (an IPv6 client by its network). */
  private address(ip: string): string {
    return rateLimitAddress(ip, this.limits.ipv6Prefix);
  }

  /** Seconds the pair is still locked, by this throttle's clock; 0 when it is not. */
  private async lockedFor(key: string): Promise<number> {
    const end = await this.pairLockEnd.get(key);
    return end && end.consumedPoints > 0 ? secondsLocked(end.consumedPoints, this.now()) : 0;
  }

  /**
   * Counts a login attempt before any hashing. Attempt k of a streak (k = the pair's count) runs
   * freely while k < RATE_LIMIT_LOGIN_FAILURES; from the limit on, an attempt runs only when the
   * pair's lock is over and it takes the pair's gate, and its failure locks the pair for the
   * lockout of its streak (the base, doubling with every further failure up to the maximum). So a
   * parallel burst gets at most the limit's worth of hashes, and each lockout lets exactly one more
   * guess through.
   */
  async begin(username: string, rawIp: string): Promise<CountedAttempt | ThrottleRefusal> {
    const ip = this.address(rawIp);
    const key = pairKey(username, ip);
    const { loginFailuresPerUserIp: perPair, loginFailuresPerIpHour: perIp } = this.limits;
    const locked = await this.lockedFor(key);
    if (locked > 0) return this.refuse('login_user_ip', perPair, locked);
    const ipCount = await this.consume(this.ipFailures, ip);
    if (ipCount && ipCount.consumedPoints > perIp) {
      return this.refuse('login_ip', perIp, ipCount.msBeforeNext / 1000);
    }
    const streak = (await this.consume(this.pairFailures, key))?.consumedPoints ?? 1;
    const lockout = lockoutSeconds(streak, this.limits);
    const gated = lockout > 0;
    if (gated) {
      const held = (await this.consume(this.pairGate, key))?.consumedPoints === 1;
      // Another attempt holds the gate, or one failed and locked the pair after this one looked:
      // this one never runs, so it costs nothing.
      const lockedMeanwhile = held ? await this.lockedFor(key) : 0;
      if (!held || lockedMeanwhile > 0) {
        await Promise.all([
          this.refund(this.pairFailures, key),
          this.refund(this.ipFailures, ip),
          held ? this.pairGate.delete(key) : undefined,
        ]);
        return this.refuse('login_user_ip', perPair, lockedMeanwhile || lockout);
      }
    }
    return {
      refused: false,
      failed: async () => {
        if (!gated) return false;
        // The lock's end is written before the gate opens, so the next attempt to take the gate sees it.
        await this.pairLockEnd.set(key, lockEnd(this.now(), lockout), lockout + GATE_HOLD_S);
        await this.pairGate.delete(key);
        return true;
      },
      succeeded: async () => {
        await Promise.all([
          this.pairFailures.delete(key),
          this.pairLockEnd.delete(key),
          this.pairGate.delete(key),
          this.refund(this.ipFailures, ip),
        ]);
      },
      abandoned: async () => {
        await Promise.all([
          this.refund(this.pairFailures, key),
          this.refund(this.ipFailures, ip),
          gated ? this.pairGate.delete(key) : undefined,
        ]);
      },
    };
  }

  /**
   * Per-client request limit (per client and IP for public clients); runs after client
   * authentication so nobody spends another confidential client's budget.
   */
  perClient(endpoint: 'token' | 'introspect'): Middleware {
    const budget = this.clientBudgets[endpoint];
    const name: LimiterName = endpoint === 'token' ? 'client_token' : 'client_introspect';
    return async (ctx: Context, next: Next) => {
      const { client, method } = authenticatedClient(ctx);
      const limit = this.limits.clientRequestsPerMinute;
      // A public client proves nothing but its id, which anyone can send: counted per client and
      // IP, so strangers cannot spend the budget of that app's real users.
      const key = method === 'none' ? `${client.id}|${this.address(ctx.ip)}` : client.id;
      const res = await budget.take(key);
      if (!res.allowed) {
        emitSignal(this.events, 'ratelimit.exceeded', { limiter: name });
        throw tooManyRequests(limit, res.retryAfterMs / 1000);
      }
      // The client's budget on every answer (draft-ietf-httpapi-ratelimit-headers), not only on 429.
      ctx.set('RateLimit-Limit', String(limit));
      ctx.set('RateLimit-Remaining', String(res.remaining));
      ctx.set('RateLimit-Reset', String(Math.max(1, Math.ceil(res.resetMs / 1000))));
      return next();
    };
  }

  /** Gives the unused slices of the per-client budgets back to the shared counters. */
  async flush(): Promise<void> {
    await Promise.all([this.clientBudgets.token.flush(), this.clientBudgets.introspect.flush()]);
  }

  /** Shutdown: stops the budgets' synchronisation and gives their unused slices back. */
  async close(): Promise<void> {
    await Promise.all([this.clientBudgets.token.close(), this.clientBudgets.introspect.close()]);
  }

  private refuse(limiter: LimiterName, limit: number, retryAfterSeconds: number): ThrottleRefusal {
    emitSignal(this.events, 'ratelimit.exceeded', { limiter });
    return { refused: true, limit, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)) };
  }

  /** Consumes one point; being over the limit is an answer here, not an error. */
  private async consume(limiter: Limiter, key: string): Promise<RateLimiterRes | undefined> {
    try {
      return await limiter.consume(key, 1);
    } catch (res) {
      if (res instanceof RateLimiterRes) return res;
      throw res;
    }
  }

  /** Gives one point back (never below zero: a window that expired meanwhile stays empty). */
  private async refund(limiter: Limiter, key: string): Promise<void> {
    const current = await limiter.get(key);
    if (current && current.consumedPoints > 0) await limiter.reward(key, 1);
  }
}
