// `node --import tsx bench/stack_inprocess.ts [variants] [requests] [rounds]`: the front stack's CPU
// per request without the network. Each request is a Node IncomingMessage/ServerResponse pair on a
// socket that discards what is written, driven through app.callback() in this one process, so no
// kernel, loopback TCP or load generator shares the measurement (the `stack` scenario of
// bench/run.ts has all three, and on a loaded machine they drown differences of a few µs).
// Variants as in bench/targets/stack.ts: `bare` (Koa and the router only), `` (the whole stack) and
// a front step's name (the stack without it); printed as µs of CPU per request, medians of the
// interleaved rounds. ROOT=<tree> measures another checkout's src/ (e.g. `git archive main`).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import Koa from 'koa';
import type * as AppModule from '../src/app.js';
import type * as EventsModule from '../src/events.js';
import type * as ObservabilityModule from '../src/observability.js';
import { inProcessRequest, NullSocket } from './lib/inprocess.js';

const ROOT = process.env.ROOT ?? path.join(fileURLToPath(new URL('.', import.meta.url)), '..');
const { createApp, FRONT_STEPS } = (await import(path.join(ROOT, 'src/app.ts'))) as typeof AppModule;
const { EventBus } = (await import(path.join(ROOT, 'src/events.ts'))) as typeof EventsModule;
const { createLogger, createMetrics } = (await import(
  path.join(ROOT, 'src/observability.ts')
)) as typeof ObservabilityModule;

function appFor(variant: string): Koa {
  const router = new Router();
  router.get('/empty', (ctx) => {
    ctx.status = 204;
  });
  if (variant === 'bare') {
    const app = new Koa();
    app.use(router.routes());
    app.use(router.allowedMethods());
    return app;
  }
  // Only what the front steps read, as in bench/targets/stack.ts; the log goes to stdout.
  const deps = {
    config: { trustProxy: false },
    log: createLogger('info'),
    metrics: createMetrics(),
    events: new EventBus(),
  } as unknown as AppModule.AppDeps;
  return createApp(deps, { router, ...(variant ? { without: variant as AppModule.FrontStep } : {}) });
}

/** `n` GET /empty requests one after the other, yielding to the event loop every 64. */
async function drive(handler: ReturnType<Koa['callback']>, n: number): Promise<void> {
  const socket = new NullSocket();
  const empty = { method: 'GET', url: '/empty', headers: {} };
  for (let done = 1; done <= n; done++) {
    await inProcessRequest(handler, empty, socket);
    if (done % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

const steps = FRONT_STEPS.filter((s) => s !== 'wellKnown');
const variants = (process.argv[2] ?? ['bare', '', ...steps].join(',')).split(',');
const requests = Number(process.argv[3] ?? 20000);
const rounds = Number(process.argv[4] ?? 7);
const handlers = variants.map((v) => appFor(v).callback());
const samples: number[][] = variants.map(() => []);
// Round 0 warms every variant up and is not counted.
for (let round = 0; round <= rounds; round++) {
  for (const [i, handler] of handlers.entries()) {
    const before = process.cpuUsage();
    await drive(handler, requests);
    const used = process.cpuUsage(before);
    if (round > 0) samples[i]?.push((used.user + used.system) / requests);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;
const cpu = (variant: string) => median(samples[variants.indexOf(variant)] ?? []);
const whole = cpu('');
const lines = variants.map((v) => {
  const label = v === '' ? 'whole stack' : v === 'bare' ? 'bare Koa' : `without ${v}`;
  const step = v === '' || v === 'bare' ? '' : `  step ${(whole - cpu(v)).toFixed(2)}`;
  return `${label.padEnd(24)} ${cpu(v).toFixed(2)} µs${step}`;
});
if (variants.includes('bare') && variants.includes('')) {
  lines.push(`own cost (whole − bare)  ${(whole - cpu('bare')).toFixed(2)} µs`);
}
// stderr: stdout carries the request log lines. STACK_INPROCESS_FORMAT=json: one object of CPU µs
// per request by variant (`` is the whole stack), for bench/run.ts's budget table.
if (process.env.STACK_INPROCESS_FORMAT === 'json') {
  console.error(JSON.stringify(Object.fromEntries(variants.map((v) => [v, cpu(v)]))));
} else {
  console.error(lines.join('\n'));
}
