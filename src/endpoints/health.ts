import Router from '@koa/router';
import type { Registry } from 'prom-client';

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

export function healthRoutes(deps: { checks: ReadinessCheck[]; metrics: Registry }): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const results = await Promise.all(deps.checks.map(async (c) => [c, await runCheck(c)] as const));
    const down = results.filter(([, r]) => r === 'down');
    ctx.set('Cache-Control', 'no-store');
    ctx.status = down.some(([c]) => c.critical) ? 503 : 200;
    ctx.body = {
      status: down.length === 0 ? 'ok' : ctx.status === 503 ? 'down' : 'degraded',
      checks: Object.fromEntries(results.map(([c, r]) => [c.name, r])),
    };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.contentType;
    ctx.body = await deps.metrics.metrics();
  });
  return router;
}
