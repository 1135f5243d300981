// The `stack` target: Tessera's whole front middleware stack (src/app.ts FRONT_STEPS: client IP,
// request log at info to stdout, which the bench discards, metrics, error handler, security headers,
// strict path, the per-request audit writer) in front of one empty route, optionally without one named step (argv[2]): the
// difference in CPU µs per request is what that step costs (bench/README.md, "stack").
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import { type AppDeps, createApp, FRONT_STEPS, type FrontStep } from '../../src/app.js';
import { EventBus } from '../../src/events.js';
import { createLogger, createMetrics } from '../../src/observability.js';

const without = process.argv[2] as FrontStep | undefined;
if (without && !FRONT_STEPS.includes(without)) throw new Error(`no front step ${without}`);
const router = new Router();
router.get('/empty', (ctx) => {
  ctx.status = 204;
});
// Only what the front steps read: the proxy setting, the log, the metrics and the event bus.
const deps = {
  config: { trustProxy: false },
  log: createLogger('info'),
  metrics: createMetrics(),
  events: new EventBus(),
} as unknown as AppDeps;
const server = createApp(deps, { router, ...(without ? { without } : {}) }).listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ url: `http://127.0.0.1:${port}` });
});
process.on('disconnect', () => process.exit(0));
