import type { Context, Middleware, Next } from 'koa';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import { emitSignal } from '../facts/publisher.js';
import { requestStamp } from '../facts/stamp.js';
import { rateLimitAddress } from '../http/client_ip.js';
import { jsonDocument } from '../http/input.js';
import type { Limiter, LimiterFactory } from '../http/limiter_store.js';
import { requestState } from '../http/request_state.js';
import type { Registrations } from './registrations.js';

/** RFC 6750 §2.1: the registration access token, from the Authorization header only. */
function registrationToken(ctx: Context): string | undefined {
  const m = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(ctx.get('authorization'));
  return m?.[1];
}

export interface RegistrationEndpointDeps {
  registrations: Registrations;
  limiter: LimiterFactory;
  /** RATE_LIMIT_REGISTRATIONS_PER_HOUR */
  perIpHour: number;
  /** RATE_LIMIT_IPV6_PREFIX: an IPv6 client counts as its network of this many bits. */
  ipv6Prefix: number;
  events: EventBus;
}

/** The named steps of POST /register and /register/{client_id} (docs/mcp.md). */
export function registrationSteps(deps: RegistrationEndpointDeps) {
  const limiter: Limiter = deps.limiter({
    name: 'register_ip',
    points: deps.perIpHour,
    duration: 3600,
  });
  const id = (ctx: Context) => String(ctx.params.client_id ?? '');
  return {
    /** Registrations per client IP per hour (every attempt counts, so probing costs too). */
    async limitRegistrations(ctx: Context, next: Next) {
      try {
        await limiter.consume(rateLimitAddress(ctx.ip, deps.ipv6Prefix));
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        emitSignal(deps.events, 'ratelimit.exceeded', { limiter: 'register_ip' });
        const seconds = String(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
        throw new OAuthError('rate_limited', 'too many registrations; retry later', {
          headers: { 'Retry-After': seconds },
        });
      }
      return next();
    },
    /** RFC 7591 §3: 201 with the client information response. */
    async registerClient(ctx: Context) {
      // The one strict reader (src/http/input.ts) already refused encodings, bad text and repeated keys.
      const body = jsonDocument(ctx);
      const answer = await deps.registrations.register(body, requestStamp(ctx, registrationActor(ctx)));
      ctx.status = 201;
      ctx.set('Location', answer.registration_client_uri);
      ctx.body = answer;
    },
    async readRegistration(ctx: Context) {
      ctx.body = await deps.registrations.read(id(ctx), registrationToken(ctx));
    },
    async updateRegistration(ctx: Context) {
      const token = registrationToken(ctx);
      // The one strict reader (src/http/input.ts) already refused encodings, bad text and repeated keys.
      const body = jsonDocument(ctx);
      ctx.body = await deps.registrations.update(id(ctx), token, body, requestStamp(ctx, id(ctx)));
    },
    async deleteRegistration(ctx: Context) {
      await deps.registrations.delete(id(ctx), registrationToken(ctx), requestStamp(ctx, id(ctx)));
      ctx.status = 204;
    },
  } satisfies Record<string, Middleware>;
}

/** `token` mode: the admin client that holds the initial access token; `open`: the anonymous caller. */
const registrationActor = (ctx: Context) => requestState(ctx).token?.claims.client_id ?? 'anonymous';
