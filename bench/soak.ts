// `npm run soak [-- --minutes N]`: one real server process on real Postgres + Redis, driven for N
// minutes (default 10) at 80% of the peak measured at the start with the realistic mix of
// bench/lib/mix.ts. Every minute: throughput, p50/p99 per route, errors, the server's RSS and heap
// (its /metrics), Postgres and Redis connections. The report fails (exit 1) if RSS or p99 trends
// up or any error appears. Writes bench/results/soak.json and soak.md. Not a CI test.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Mix, type Outcome, type Route } from './lib/mix.js';
import { freePort, freshDatabase, percentile, scrape, seed, serverProcess } from './lib/stack.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'peak-seconds': { type: 'string', default: '20' },
    connections: { type: 'string', default: '16' },
    users: { type: 'string', default: '200' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.warn(`usage: npm run soak -- [--minutes 10] [--peak-seconds 20] [--connections 16] [--users 200]
Needs Postgres (SOAK_DATABASE_URL or DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres:
a fresh database is created there and dropped) and Redis (REDIS_URL, default redis://127.0.0.1:6379,
under a fresh key prefix). Report: bench/results/soak.json and soak.md; exit 1 if it fails.`);
  process.exit(0);
}
const minutes = Number(values.minutes);
const peakSeconds = Number(values['peak-seconds']);
const connections = Number(values.connections);
if (![minutes, peakSeconds, connections].every((n) => Number.isFinite(n) && n > 0)) {
  console.error('--minutes, --peak-seconds and --connections must be positive numbers');
  process.exit(2);
}

const pgServer =
  process.env.SOAK_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROUTES: Route[] = ['introspect', 'client_credentials', 'refresh', 'password', 'revoke', 'logout'];

interface MinuteReport {
  minute: number;
  requests: number;
  rps: number;
  errors: number;
  errorSamples: string[];
  routes: Record<string, { count: number; p50: number; p99: number }>;
  p99: number;
  rssMiB: number;
  heapUsedMiB: number;
  postgresConnections: number;
  redisConnections: number;
  loadAverage: number;
  /** Requests the load generator could not start (its in-flight cap was reached). */
  shed: number;
}

/**
 * A 5-second window whose slowest answer took over a second: which side stalled. The server's
 * event-loop lag (its `nodejs_eventloop_lag_max_seconds`, reset by each scrape) against the load
 * generator's own (a stalled generator inflates every latency it measures), and what was in
 * flight: a full login queue shows as password answers at ~2 s (its bounded wait) and 503s.
 */
interface Stall {
  at: string;
  maxMs: number;
  slowestRoute: string;
  serverLoopLagMs: number;
  generatorLoopLagMs: number;
  maxInFlight: number;
  errors: number;
  byRoute: Record<string, number>;
}
const STALL_WINDOW_MS = 5_000;

/** Least-squares slope per minute and the fitted values at the first and last sample. */
function trend(ys: number[]): { slope: number; first: number; last: number } {
  const n = ys.length;
  if (n < 2) return { slope: 0, first: ys[0] ?? 0, last: ys[0] ?? 0 };
  const xs = ys.map((_, i) => i);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  const slope =
    xs.reduce((a, x, i) => a + (x - mx) * ((ys[i] as number) - my), 0) /
    xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  return { slope, first: my - slope * mx, last: my + slope * (n - 1 - mx) };
}

const db = await freshDatabase(pgServer);
const dbName = new URL(db.url).pathname.slice(1);
const prefix = `tessera-soak-${randomBytes(4).toString('hex')}:`;
const port = await freePort();
const env: Record<string, string> = {
  NODE_ENV: 'production',
  DATABASE_URL: db.url,
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: prefix,
  KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
  ISSUER: `http://127.0.0.1:${port}`,
  // Production's per-client budget and login throttles would turn the load into 429s.
  RATE_LIMIT_CLIENT_PER_MINUTE: '100000000',
  RATE_LIMIT_LOGIN_FAILURES: '1000000',
  RATE_LIMIT_IP_FAILURES_PER_HOUR: '10000000',
  // Logins top the session pool up while revocations drain it; the cap is not what this measures.
  MAX_SESSIONS_PER_USER: '1000',
};
console.warn(`soak: seeding ${values.users} users on ${dbName}`);
const seeded = await seed(env, Number(values.users));
const server = serverProcess('soak', port, env);
await server.start();
const mix = new Mix(seeded, [server.url]);
const pgClient = new pg.Client({ connectionString: pgServer });
await pgClient.connect();
const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
await redis.connect();

let failed = false;
try {
  // Sessions to refresh, revoke and log out from the first second.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 12; i++) await mix.run('password');
    }),
  );

  console.warn(`soak: measuring the peak for ${peakSeconds}s with ${connections} connections`);
  let peakDone = 0;
  const peakEnd = Date.now() + peakSeconds * 1000;
  const peakErrors: string[] = [];
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < peakEnd) {
        const o = await mix.run(mix.pick());
        peakDone++;
        if (o.error) peakErrors.push(`${o.route}: ${o.error}`);
      }
    }),
  );
  const peak = peakDone / peakSeconds;
  const rate = 0.8 * peak;
  console.warn(`soak: peak ${peak.toFixed(0)} req/s, running ${minutes} min at ${rate.toFixed(0)} req/s`);

  const reports: MinuteReport[] = [];
  let window: Outcome[] = [];
  let shed = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const stalls: Stall[] = [];
  let slot: Outcome[] = [];
  const generatorLag = monitorEventLoopDelay({ resolution: 10 });
  generatorLag.enable();
  await scrape(server.url, ['nodejs_eventloop_lag_max_seconds']);
  const stallTracer = setInterval(() => {
    const outcomes = slot;
    slot = [];
    const peakInFlight = maxInFlight;
    maxInFlight = inFlight;
    const slowest = outcomes.reduce<Outcome | undefined>((a, o) => (a && a.ms >= o.ms ? a : o), undefined);
    const lagMs = generatorLag.max / 1e6;
    generatorLag.reset();
    void scrape(server.url, ['nodejs_eventloop_lag_max_seconds']).then((m) => {
      if (!slowest || slowest.ms < 1000) return;
      const byRoute: Record<string, number> = {};
      for (const o of outcomes) if (o.ms >= 1000) byRoute[o.route] = (byRoute[o.route] ?? 0) + 1;
      stalls.push({
        at: new Date().toISOString(),
        maxMs: slowest.ms,
        slowestRoute: slowest.route,
        serverLoopLagMs: (m.nodejs_eventloop_lag_max_seconds ?? 0) * 1000,
        generatorLoopLagMs: lagMs,
        maxInFlight: peakInFlight,
        errors: outcomes.filter((o) => o.error).length,
        byRoute,
      });
    });
  }, STALL_WINDOW_MS);
  const MAX_IN_FLIGHT = 256;
  let credit = 0;
  const tick = 20;
  const ticker = setInterval(() => {
    credit += (rate * tick) / 1000;
    while (credit >= 1) {
      credit -= 1;
      if (inFlight >= MAX_IN_FLIGHT) {
        shed++;
        continue;
      }
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      void mix.run(mix.pick()).then((o) => {
        inFlight--;
        window.push(o);
        slot.push(o);
      });
    }
  }, tick);

  for (let minute = 1; minute <= minutes; minute++) {
    await new Promise((r) => setTimeout(r, 60_000));
    const outcomes = window;
    window = [];
    const metrics = await scrape(server.url, [
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ]);
    const pgConns = await pgClient.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
      [dbName],
    );
    const info = await redis.info('clients');
    const routes: MinuteReport['routes'] = {};
    for (const route of ROUTES) {
      const ms = outcomes
        .filter((o) => o.route === route)
        .map((o) => o.ms)
        .sort((a, b) => a - b);
      routes[route] = { count: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99) };
    }
    const all = outcomes.map((o) => o.ms).sort((a, b) => a - b);
    const errors = outcomes.filter((o) => o.error);
    const report: MinuteReport = {
      minute,
      requests: outcomes.length,
      rps: outcomes.length / 60,
      errors: errors.length,
      errorSamples: [...new Set(errors.map((o) => `${o.route}: ${o.error}`))].slice(0, 5),
      routes,
      p99: percentile(all, 99),
      rssMiB: (metrics.process_resident_memory_bytes ?? 0) / 2 ** 20,
      heapUsedMiB: (metrics.nodejs_heap_size_used_bytes ?? 0) / 2 ** 20,
      postgresConnections: pgConns.rows[0].n,
      redisConnections: Number(/connected_clients:(\d+)/.exec(info)?.[1] ?? 0),
      loadAverage: loadavg()[0] as number,
      shed,
    };
    shed = 0;
    reports.push(report);
    console.warn(
      `minute ${minute}: ${report.rps.toFixed(0)} req/s, p99 ${report.p99.toFixed(1)} ms, errors ${report.errors}, ` +
        `RSS ${report.rssMiB.toFixed(0)} MiB, heap ${report.heapUsedMiB.toFixed(0)} MiB, ` +
        `pg ${report.postgresConnections}, redis ${report.redisConnections}, load ${report.loadAverage.toFixed(1)}`,
    );
  }
  clearInterval(ticker);
  clearInterval(stallTracer);
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 50));

  // Trends from minute 2 on when there are enough minutes: the first one includes the warm-up.
  const steady = reports.length >= 3 ? reports.slice(1) : reports;
  const rss = trend(steady.map((r) => r.rssMiB));
  const p99 = trend(steady.map((r) => r.p99));
  const errors = reports.reduce((a, r) => a + r.errors, 0);
  const reasons: string[] = [];
  if (errors > 0) reasons.push(`${errors} errors`);
  if (peakErrors.length > 0) reasons.push(`${peakErrors.length} errors while measuring the peak`);
  // Upward trends: fitted growth over the run beyond noise (10% and 16 MiB; 50% and 5 ms).
  if (rss.last - rss.first > Math.max(16, 0.1 * rss.first))
    reasons.push(`RSS trends up ${rss.slope.toFixed(1)} MiB/min`);
  if (p99.last - p99.first > Math.max(5, 0.5 * p99.first))
    reasons.push(`p99 trends up ${p99.slope.toFixed(1)} ms/min`);
  failed = reasons.length > 0;
  const summary = {
    at: new Date().toISOString(),
    minutes,
    peakRps: peak,
    targetRps: rate,
    meanRps: reports.reduce((a, r) => a + r.rps, 0) / reports.length,
    errors,
    peakErrors: [...new Set(peakErrors)].slice(0, 5),
    rssTrendMiBPerMin: rss.slope,
    rssDriftMiB: rss.last - rss.first,
    p99TrendMsPerMin: p99.slope,
    p99DriftMs: p99.last - p99.first,
    verdict: failed ? `FAIL: ${reasons.join('; ')}` : 'PASS',
    loadAverageAtEnd: loadavg(),
    minutesReport: reports,
    stalls,
  };
  const dir = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'soak.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const md = [
    `# Soak ${summary.at}`,
    '',
    `${minutes} min at 80% of a measured peak of ${peak.toFixed(0)} req/s (target ${rate.toFixed(0)} req/s), one server process (NODE_ENV=production) on Postgres + Redis, on a shared 2-core machine (load average at the end ${summary.loadAverageAtEnd.map((l) => l.toFixed(1)).join(' ')}).`,
    '',
    `**${summary.verdict}** · errors ${errors} · RSS drift ${summary.rssDriftMiB.toFixed(1)} MiB (${rss.slope.toFixed(2)} MiB/min) · p99 drift ${summary.p99DriftMs.toFixed(1)} ms (${p99.slope.toFixed(2)} ms/min)`,
    '',
    '| min | req/s | p99 ms | errors | RSS MiB | heap MiB | pg conns | redis conns | load | shed | logins % | ' +
      ROUTES.map((r) => `${r} p50/p99`).join(' | ') +
      ' |',
    `|${'---|'.repeat(11 + ROUTES.length)}`,
    ...reports.map(
      (r) =>
        `| ${r.minute} | ${r.rps.toFixed(0)} | ${r.p99.toFixed(1)} | ${r.errors} | ${r.rssMiB.toFixed(0)} | ${r.heapUsedMiB.toFixed(0)} | ${r.postgresConnections} | ${r.redisConnections} | ${r.loadAverage.toFixed(1)} | ${r.shed} | ${((100 * (r.routes.password?.count ?? 0)) / Math.max(1, r.requests)).toFixed(1)} | ` +
        ROUTES.map((route) => `${r.routes[route]?.p50.toFixed(1)}/${r.routes[route]?.p99.toFixed(1)}`).join(
          ' | ',
        ) +
        ' |',
    ),
    '',
    "Redis connections are the whole server's (`INFO clients`), shared with whatever else uses it. `logins %`: the password grant's share of the minute's requests (the mix asks for 5%).",
    ...(stalls.length
      ? [
          '',
          `Stalls (5-s windows whose slowest answer took over 1 s): server loop lag = the server's event loop blocked; generator lag = the load generator's; answers ≥ 1 s by route.`,
          '',
          '| at | slowest ms | route | server loop lag ms | generator lag ms | max in flight | errors | ≥ 1 s by route |',
          '|---|---:|---|---:|---:|---:|---:|---|',
          ...stalls.map(
            (x) =>
              `| ${x.at.slice(11, 19)} | ${x.maxMs.toFixed(0)} | ${x.slowestRoute} | ${x.serverLoopLagMs.toFixed(0)} | ${x.generatorLoopLagMs.toFixed(0)} | ${x.maxInFlight} | ${x.errors} | ${Object.entries(
                x.byRoute,
              )
                .map(([r, n]) => `${r} ${n}`)
                .join(', ')} |`,
          ),
        ]
      : []),
    ...(reports.some((r) => r.errorSamples.length)
      ? ['', 'Errors seen:', ...[...new Set(reports.flatMap((r) => r.errorSamples))].map((e) => `- ${e}`)]
      : []),
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'soak.md'), md);
  console.warn(`soak: ${summary.verdict} (bench/results/soak.md)`);
} finally {
  await server.stop();
  await pgClient.end();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
  await db.drop();
}
process.exit(failed ? 1 : 0);
