import { isIP } from 'node:net';
import type { Context, Middleware, Next } from 'koa';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { LimiterFactory } from '../http/limiter_store.js';
import { readBody } from '../http/params.js';
import { auditStamp } from '../http/request_log.js';
import { isCleanText, rejectContentEncoding } from '../http/strict_input.js';
import type { Registrations } from './registrations.js';

/**
 * The one place /register reads its body: JSON only (RFC 7591 §3.1), under the common body limit,
 * no content encoding, every string clean text (no NUL, no invalid UTF-8, no lone surrogate).
 */
async function readRegistrationBody(ctx: Context): Promise<Record<string, unknown>> {
  rejectContentEncoding(ctx);
  if (!ctx.request.is('application/json'))
    throw new OAuthError('invalid_request', 'use application/json', { status: 415 });
  await readBody(ctx, async () => {});
  const body = ctx.request.body as unknown;
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new OAuthError('invalid_client_metadata', 'the body must be a JSON object');
  const clean = (v: unknown): boolean =>
    typeof v === 'string'
      ? isCleanText(v)
      : Array.isArray(v)
        ? v.every(clean)
        : v === null ||
          typeof v !== 'object' ||
          Object.entries(v).every(([k, x]) => isCleanText(k) && clean(x));
  if (!clean(body)) throw new OAuthError('invalid_request', 'the body holds malformed text');
  return body as Record<string, unknown>;
}

/** RFC 6750 §2.1: the registration access token, from the Authorization header only. */
function registrationToken(ctx: Context): string | undefined {
  const m = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(ctx.get('authorization'));
  return m?.[1];
}

/** An IPv6 client is counted per /64, the block one host usually holds; IPv4 per address. */
export function registrationIpKey(ip: string): string {
  if (isIP(ip) !== 6 || /^::ffff:/i.test(ip)) return ip.replace(/^::ffff:/i, '');
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.padStart(4, '0'))
    .join(':')}::/64`;
}

export interface RegistrationEndpointDeps {
  registrations: Registrations;
  limiter: LimiterFactory;
  /** RATE_LIMIT_REGISTRATIONS_PER_HOUR */
  perIpHour: number;
  events: EventBus;
}

/** The named steps of POST /register and /register/{client_id} (docs/mcp.md). */
export function registrationSteps(deps: RegistrationEndpointDeps) {
  const limiter: RateLimiterAbstract = deps.limiter({
    name: 'register_ip',
    points: deps.perIpHour,
    duration: 3600,
  });
  const id = (ctx: Context) => String(ctx.params.client_id ?? '');
  return {
    /** Registrations per client IP per hour (every attempt counts, so probing costs too). */
    async limitRegistrations(ctx: Context, next: Next) {
      try {
        await limiter.consume(registrationIpKey(ctx.ip));
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        deps.events.emit('ratelimit.exceeded', { limiter: 'register_ip' });
        const seconds = String(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
        throw new OAuthError('rate_limited', 'too many registrations; retry later', {
          headers: { 'Retry-After': seconds },
        });
      }
      return next();
    },
    /** RFC 7591 §3: 201 with the client information response. */
    async registerClient(ctx: Context) {
      const body = await readRegistrationBody(ctx);
      const answer = await deps.registrations.register(body, auditStamp(ctx, registrationActor(ctx)));
      ctx.status = 201;
      ctx.set('Location', answer.registration_client_uri);
      ctx.body = answer;
    },
    async readRegistration(ctx: Context) {
      ctx.body = await deps.registrations.read(id(ctx), registrationToken(ctx));
    },
    async updateRegistration(ctx: Context) {
      const token = registrationToken(ctx);
      const body = await readRegistrationBody(ctx);
      ctx.body = await deps.registrations.update(id(ctx), token, body, auditStamp(ctx, id(ctx)));
    },
    async deleteRegistration(ctx: Context) {
      await deps.registrations.delete(id(ctx), registrationToken(ctx), auditStamp(ctx, id(ctx)));
      ctx.status = 204;
    },
  } satisfies Record<string, Middleware>;
}

/** `token` mode: the admin client that holds the initial access token; `open`: the anonymous caller. */
const registrationActor = (ctx: Context) => ctx.state.token?.claims.client_id ?? 'anonymous';
