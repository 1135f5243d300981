// The `stack` target: Tessera's whole front middleware stack (src/app.ts FRONT_STEPS: client IP,
// request log at info to stdout, which the bench discards, metrics, error handler, security headers,
// strict path, the per-request audit writer) in front of one empty route, optionally without one named step (argv[2]): the
// difference in CPU µs per request is what that step costs (bench/README.md, "stack"). `bare` is
// plain Koa with the same router: the floor the stack's own cost is measured from.
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { type AppDeps, createApp, FRONT_STEPS, type FrontStep } from '../../src/app.js';
import { EventBus } from '../../src/events.js';
import { createLogger, createMetrics } from '../../src/observability.js';

const variant = process.argv[2];
const bare = variant === 'bare';
const without = bare ? undefined : (variant as FrontStep | undefined);
if (without && !FRONT_STEPS.includes(without)) throw new Error(`no front step ${without}`);
const router = new Router();
router.get('/empty', (ctx) => {
  ctx.status = 204;
});

function bareKoa(): Koa {
  const app = new Koa();
  app.silent = true;
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

// Only what the front steps read: the proxy setting, the log, the metrics and the event bus.
const deps = {
  config: { trustProxy: false },
  log: createLogger('info'),
  metrics: createMetrics(),
  events: new EventBus(),
} as unknown as AppDeps;
const app = bare ? bareKoa() : createApp(deps, { router, ...(without ? { without } : {}) });
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ url: `http://127.0.0.1:${port}` });
});
process.on('disconnect', () => process.exit(0));
