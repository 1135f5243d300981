import type { Context } from 'koa';
import type { Registry } from 'prom-client';
import type { DeploymentMode } from '../config.js';

export type CheckResult = 'ok' | 'down' | 'embedded';

/** A readiness probe: `critical` ones make the instance unready, others only degraded. */
export interface ReadinessCheck {
  name: string;
  critical: boolean;
  run(): Promise<CheckResult>;
}

const CHECK_TIMEOUT_MS = 2000;

export async function runCheck(check: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve('down'), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check.run().catch((): CheckResult => 'down'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness: the process answers; says nothing about its dependencies. */
export async function liveness(ctx: Context): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { status: 'ok' };
}

/**
 * The process is shutting down (docs/monitoring.md, shutdown): readiness fails first so that a load
 * balancer stops sending new requests while the ones in flight finish.
 */
export class Drain {
  private started = false;

  get draining(): boolean {
    return this.started;
  }

  start(): void {
    this.started = true;
  }
}

/**
 * Readiness: 503 when a critical check is down or the process is draining, 200 "degraded" when only
 * others are down. `mode` says where the shared state lives (docs/scaling.md), so an operator can
 * tell a Postgres-only instance from one that lost its Redis configuration.
 */
export function readiness(checks: ReadinessCheck[], mode: DeploymentMode, drain?: Drain) {
  return async function readiness(ctx: Context): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    const results = await Promise.all(checks.map(async (c) => [c, await runCheck(c)] as const));
    const down = results.filter(([, r]) => r === 'down');
    const draining = drain?.draining ?? false;
    ctx.status = draining || down.some(([c]) => c.critical) ? 503 : 200;
    // A dependency outage is expected to pass (RFC 9110 §10.2.3): say when to look again, as the
    // API routes do. A draining instance is not coming back, so it says nothing of the kind.
    if (ctx.status === 503 && !draining) ctx.set('Retry-After', '1');
    ctx.body = {
      status: draining ? 'stopping' : down.length === 0 ? 'ok' : ctx.status === 503 ? 'down' : 'degraded',
      mode,
      checks: Object.fromEntries(results.map(([c, r]) => [c.name, r])),
    };
  };
}

/** Prometheus exposition of the process and domain metrics. */
export function serveMetrics(registry: Registry) {
  return async function serveMetrics(ctx: Context): Promise<void> {
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  };
}
