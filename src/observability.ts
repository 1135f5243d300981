import type { Context, Next } from 'koa';
import { type Logger, pino } from 'pino';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { LogLevel } from './config.js';
import type { EventBus } from './events.js';

/**
 * Logs never carry secrets: request logs record the route pattern, never the URL or body, and
 * these paths are redacted in case an object with credentials is logged by mistake.
 */
const REDACT = [
  'password',
  'client_secret',
  'access_token',
  'refresh_token',
  'token',
  'authorization',
  '*.password',
  '*.client_secret',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  '*.authorization',
  'req.headers.authorization',
];

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } }, destination as never);
}

export interface Metrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  duration: Histogram<'route' | 'method'>;
  events: Counter<'event' | 'kind'>;
}

export function createMetrics(): Metrics {
  // One registry per app instance: no global state, so tests can run several apps in one process.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'tessera_http_requests_total',
      help: 'HTTP requests by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'tessera_http_request_duration_seconds',
      help: 'HTTP request latency by route pattern',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    events: new Counter({
      name: 'tessera_events_total',
      help: 'Domain events (token.issued, refresh.reuse_detected, key.rotated, ...) by kind',
      labelNames: ['event', 'kind'],
      registers: [registry],
    }),
  };
}

/** Counts and times every request by its route pattern (never the raw path: no token leaks). */
export function requestMetrics(metrics: Metrics, log: Logger) {
  return async function measure(ctx: Context, next: Next): Promise<void> {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = typeof ctx._matchedRoute === 'string' ? ctx._matchedRoute : 'unmatched';
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.requests.inc({ route, method: ctx.method, status: String(ctx.status) });
      metrics.duration.observe({ route, method: ctx.method }, seconds);
      log.debug({ route, method: ctx.method, status: ctx.status, ms: Math.round(seconds * 1000) }, 'request');
    }
  };
}

/** A store error's own message says which dependency; its cause says what the driver saw. */
function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

/** Subscribes logging and metrics to domain events: the only place that decides what is logged. */
export function observeEvents(events: EventBus, log: Logger, metrics: Metrics): void {
  const count = (event: string, kind = '') => metrics.events.inc({ event, kind });
  events.on('token.issued', (e) => {
    count('token.issued', e.grantType);
    log.debug({ clientId: e.clientId, sub: e.sub, kid: e.kid, grant: e.grantType }, 'token issued');
  });
  events.on('login.failed', (e) => {
    count('login.failed', e.reason);
    log.info({ clientId: e.clientId, reason: e.reason }, 'login failed');
  });
  events.on('client.auth_failed', (e) => {
    count('client.auth_failed');
    log.info({ clientId: e.clientId, reason: e.reason }, 'client authentication failed');
  });
  events.on('token.rejected', (e) => count('token.rejected', e.reason));
  events.on('request.error', (e) => {
    count('request.error', e.error);
    log.debug({ error: e.error, status: e.status, detail: e.detail, route: e.route }, 'request refused');
  });
  events.on('server.error', (e) => {
    count('server.error');
    log.error({ err: e.err, route: e.route }, 'unexpected error');
  });
  events.on('refresh.rotated', () => count('refresh.rotated'));
  events.on('refresh.reuse_detected', (e) => {
    count('refresh.reuse_detected');
    log.warn({ clientId: e.clientId, familyId: e.familyId }, 'refresh token reuse detected: family revoked');
  });
  events.on('code.reuse_detected', (e) => {
    count('code.reuse_detected');
    log.warn(
      { clientId: e.clientId, familyId: e.familyId },
      'authorization code reuse detected: session revoked',
    );
  });
  events.on('login.succeeded', (e) => {
    count('login.succeeded');
    log.info({ clientId: e.clientId, userId: e.userId }, 'signed in on the login page');
  });
  events.on('refresh.leeway_used', (e) => {
    count('refresh.leeway_used');
    log.info({ clientId: e.clientId, familyId: e.familyId }, 'refresh token replayed within leeway');
  });
  events.on('session.revoked', (e) => {
    count('session.revoked', e.reason);
    log.info({ familyId: e.familyId, reason: e.reason }, 'session revoked');
  });
  events.on('token.revoked', (e) => count('token.revoked', e.kind));
  events.on('key.rotated', (e) => {
    count('key.rotated', e.forced ? 'forced' : 'normal');
    log.info({ activeKid: e.activeKid, nextKid: e.nextKid, forced: e.forced }, 'signing key rotated');
  });
  events.on('key.revoked', (e) => {
    count('key.revoked');
    log.warn({ kid: e.kid }, 'signing key revoked');
  });
  events.on('keys.reloaded', (e) => log.debug({ activeKid: e.activeKid, reason: e.reason }, 'keys reloaded'));
  events.on('ratelimit.exceeded', (e) => count('ratelimit.exceeded', e.limiter));
  events.on('dependency.degraded', (e) => {
    count('dependency.degraded', e.dependency);
    log.warn({ dependency: e.dependency, err: errorMessage(e.err) }, 'dependency degraded');
  });
  events.on('dependency.recovered', (e) => {
    count('dependency.recovered', e.dependency);
    log.info({ dependency: e.dependency }, 'dependency recovered');
  });
}
