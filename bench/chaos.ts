// `npm run chaos`: three server processes on one throwaway Postgres (PostgreSQL binaries, never the
// machine's service) and one throwaway redis-server, under the mix of bench/lib/mix.ts, with
// scheduled faults: kill -9 of an instance (and its restart), a Postgres restart (fast shutdown)
// and a Postgres crash (immediate shutdown), a Redis restart, FLUSHALL, SIGSTOP/SIGCONT of an
// instance; then a Postgres-only run (no Redis) whose LISTEN connections are killed with
// pg_terminate_backend, and the two Postgres restarts again. After every fault: every acknowledged
// revocation holds on every instance within 1 s, no refresh family is double-spent, 5xx answers
// are 503 with Retry-After, and the instances recover without a restart. Writes
// bench/results/chaos.json and chaos.md; exit 1 if anything was lost. Not a CI test.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Mix, type Outcome, type Session } from './lib/mix.js';
import {
  basic,
  freePort,
  get,
  type Instance,
  postForm,
  seed,
  serverProcess,
  ThrowawayPostgres,
  ThrowawayRedis,
} from './lib/stack.js';

const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  console.warn(`usage: npm run chaos
Needs PostgreSQL server binaries under /usr/lib/postgresql (Debian) and redis-server on PATH:
it starts its own throwaway Postgres and Redis, never the machine's services. Takes a few minutes.
Report: bench/results/chaos.json and chaos.md; exit 1 if an acknowledged revocation was lost, a
refresh family was double-spent, a 5xx came without Retry-After, or an instance did not recover.`);
  process.exit(0);
}

interface Acked {
  session: Session;
  at: number;
  /** Instances that have answered `active: false` for the session's access token. */
  confirmed: Set<number>;
  /** Instances that still said `active: true` a second or more after the acknowledgement. */
  late: Map<number, number>;
}

interface FaultReport {
  fault: string;
  startedAt: string;
  outageMs: number;
  recoveryMs: number | null;
  requests: number;
  statuses: Record<string, number>;
  /** 5xx answers that were not 503 with Retry-After. */
  bad5xx: number;
  bad5xxSamples: string[];
  networkErrors: number;
  networkErrorSamples: string[];
  /** Other errors (unexpected 4xx) during the window and the 5 s after it. */
  otherErrors: string[];
  revocationsAcked: number;
  /** Acknowledged revocations not holding on some instance 1 s after the acknowledgement. */
  revocationsLate: number;
  /** Acknowledged revocations that never held on some instance by the end of the sweep. */
  revocationsLost: number;
  doubleSpendRaces: { races: number; bothAnswered: number };
}

const pgServer = new ThrowawayPostgres();
const redis = new ThrowawayRedis();
const outcomes: (Outcome & { at: number })[] = [];
const acked: Acked[] = [];
const down = new Set<number>();
let instances: Instance[] = [];
let mix: Mix;
let seeded: Awaited<ReturnType<typeof seed>>;
let running = false;
/** Error lines the servers logged (tokens redacted), for the report. */
const serverErrors: string[] = [];
function collectErrors() {
  for (const inst of instances)
    for (const line of inst.errors.splice(0))
      serverErrors.push(`${inst.name}: ${line.replace(/eyJ[\w.-]+/g, '<jwt>').slice(0, 600)}`);
}

async function main() {
  await pgServer.init();
  await pgServer.start();
  await redis.start();
  const ports = [await freePort(), await freePort(), await freePort()];
  const base: Record<string, string> = {
    NODE_ENV: 'production',
    DATABASE_URL: pgServer.url,
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    ISSUER: `http://127.0.0.1:${ports[0]}`,
    RATE_LIMIT_CLIENT_PER_MINUTE: '100000000',
    RATE_LIMIT_LOGIN_FAILURES: '1000000',
    RATE_LIMIT_IP_FAILURES_PER_HOUR: '10000000',
    MAX_SESSIONS_PER_USER: '1000',
  };
  const withRedis = { ...base, REDIS_URL: redis.url };
  console.warn('chaos: seeding');
  seeded = await seed(withRedis, 30);
  const reports: FaultReport[] = [];

  const startAll = async (env: Record<string, string>) => {
    instances = ports.map((p, i) => serverProcess(`i${i}`, p, env));
    for (const inst of instances) await inst.start();
    mix = new Mix(
      seeded,
      instances.map((i) => i.url),
      150,
      // Few sessions, so revocations start at once after the 30 logins.
      10,
    );
    for (let i = 0; i < 30; i++) await mix.run('password');
  };

  await startAll(withRedis);
  console.warn('chaos: three instances up (Redis mode)');
  const load = startLoad();
  const checker = startChecker();
  await sleep(5000);

  reports.push(
    await fault('kill -9 of instance 1, restart', async () => {
      down.add(1);
      instances[1]?.kill('SIGKILL');
      await sleep(3000);
      const t0 = Date.now();
      await instances[1]?.start();
      down.delete(1);
      return t0;
    }),
  );
  reports.push(
    await fault('Postgres restart', async () => {
      await pgServer.stop();
      await sleep(5000);
      await pgServer.start();
      return Date.now();
    }),
  );
  reports.push(
    await fault('Postgres crash (immediate shutdown), restart with crash recovery', async () => {
      await pgServer.stop('immediate');
      await sleep(2000);
      await pgServer.start();
      return Date.now();
    }),
  );
  reports.push(
    await fault('Redis restart (its data lost)', async () => {
      await redis.stop();
      await sleep(5000);
      await redis.start();
      return Date.now();
    }),
  );
  reports.push(
    await fault('Redis FLUSHALL', async () => {
      redis.cli('FLUSHALL');
      return Date.now();
    }),
  );
  reports.push(
    await fault('SIGSTOP of instance 2 for 5 s, SIGCONT', async () => {
      down.add(2);
      instances[2]?.kill('SIGSTOP');
      // Revocations acknowledged by the others while it sleeps must hold on it once it wakes.
      for (let i = 0; i < 5; i++) await revokeOne(i % 2);
      await sleep(5000);
      instances[2]?.kill('SIGCONT');
      down.delete(2);
      return Date.now();
    }),
  );

  running = false;
  await load;
  await checker;
  collectErrors();
  for (const inst of instances) await inst.stop();

  // The Postgres-only mode: the denylist travels by LISTEN/NOTIFY.
  await startAll(base);
  console.warn('chaos: three instances up (Postgres-only mode)');
  const load2 = startLoad();
  const checker2 = startChecker();
  await sleep(5000);
  reports.push(
    await fault('LISTEN connections killed (pg_terminate_backend), Postgres-only', async () => {
      const c = new pg.Client({ connectionString: pgServer.url });
      await c.connect();
      const r = await c.query(
        // The listener names itself (src/db/notifications.ts); its last query may be a heartbeat.
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tessera-listener'",
      );
      await c.end();
      console.warn(`  terminated ${r.rowCount} LISTEN connection(s)`);
      // Revocations right after the kill, on one instance, must reach the others.
      for (let i = 0; i < 5; i++) await revokeOne(0);
      return Date.now();
    }),
  );
  reports.push(
    await fault('Postgres restart, Postgres-only', async () => {
      await pgServer.stop();
      await sleep(5000);
      await pgServer.start();
      return Date.now();
    }),
  );
  reports.push(
    await fault('Postgres crash (immediate shutdown), restart, Postgres-only', async () => {
      await pgServer.stop('immediate');
      await sleep(2000);
      await pgServer.start();
      return Date.now();
    }),
  );
  running = false;
  await load2;
  await checker2;

  // No refresh family double-spent: no token has two children (the leeway is 0).
  const c = new pg.Client({ connectionString: pgServer.url });
  await c.connect();
  const doubles = await c.query(
    'SELECT parent_id, count(*)::int AS n FROM refresh_tokens WHERE parent_id IS NOT NULL GROUP BY parent_id HAVING count(*) > 1',
  );
  const families = await c.query('SELECT count(*)::int AS n FROM refresh_families');
  await c.end();
  collectErrors();
  for (const inst of instances) await inst.stop();

  const lost = reports.reduce((a, r) => a + r.revocationsLost, 0);
  const late = reports.reduce((a, r) => a + r.revocationsLate, 0);
  const bad5xx = reports.reduce((a, r) => a + r.bad5xx, 0);
  const unrecovered = reports.filter((r) => r.recoveryMs === null).length;
  const doubleSpent = doubles.rowCount ?? 0;
  const verdict =
    lost + late + bad5xx + unrecovered + doubleSpent === 0
      ? 'PASS'
      : `FAIL: ${lost} revocations lost, ${late} late, ${bad5xx} 5xx without 503/Retry-After, ${unrecovered} faults not recovered, ${doubleSpent} tokens spent twice`;
  const summary = {
    at: new Date().toISOString(),
    verdict,
    revocationsAcked: acked.length,
    revocationsLost: lost,
    revocationsLate: late,
    familiesSeen: families.rows[0].n,
    tokensSpentTwice: doubleSpent,
    loadAverageAtEnd: loadavg(),
    faults: reports,
    serverErrors,
  };
  const dir = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'chaos.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const md = [
    `# Chaos ${summary.at}`,
    '',
    'Three server processes (NODE_ENV=production) on a throwaway PostgreSQL and redis-server, under the soak mix, on a shared 2-core machine ' +
      `(load average at the end ${summary.loadAverageAtEnd.map((l) => l.toFixed(1)).join(' ')}).`,
    '',
    `**${verdict}** · acknowledged revocations ${acked.length}, lost ${lost}, late (>1 s) ${late} · refresh families ${summary.familiesSeen}, tokens spent twice ${doubleSpent}`,
    '',
    '| fault | outage ms | recovery ms | requests | 5xx not 503+Retry-After | network errors | revocations acked / late / lost | double-spend races (both answered) | statuses |',
    '|---|---|---|---|---|---|---|---|---|',
    ...reports.map(
      (r) =>
        `| ${r.fault} | ${r.outageMs} | ${r.recoveryMs ?? 'never'} | ${r.requests} | ${r.bad5xx} | ${r.networkErrors} | ${r.revocationsAcked} / ${r.revocationsLate} / ${r.revocationsLost} | ${r.doubleSpendRaces.races} (${r.doubleSpendRaces.bothAnswered}) | ${Object.entries(
          r.statuses,
        )
          .map(([k, v]) => `${k}:${v}`)
          .join(' ')} |`,
    ),
    '',
    'Recovery: from the end of the fault (restart or heal) until every instance answers `/readyz` 200 and a token request. Network errors are requests to an instance that was killed or paused.',
    ...reports.flatMap((r) =>
      r.otherErrors.length
        ? ['', `Other errors during "${r.fault}":`, ...r.otherErrors.map((e) => `- ${e}`)]
        : [],
    ),
    ...(serverErrors.length
      ? ['', 'Errors the servers logged:', '', '```', ...serverErrors.slice(0, 20), '```']
      : []),
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'chaos.md'), md);
  console.warn(md);
  return verdict === 'PASS';
}

/** Six closed-loop clients spread over the instances that are up. */
function startLoad(): Promise<void> {
  running = true;
  return Promise.all(
    Array.from({ length: 6 }, async () => {
      while (running) {
        const up = [0, 1, 2].filter((i) => !down.has(i));
        const target = up[Math.floor(Math.random() * up.length)];
        const o = await mix.run(mix.pick(), target);
        outcomes.push({ ...o, at: Date.now() });
        if (o.revoked)
          acked.push({ session: o.revoked, at: Date.now(), confirmed: new Set(), late: new Map() });
        await sleep(o.status === 0 || o.status >= 500 ? 200 : 20);
      }
    }),
  ).then(() => undefined);
}

/** A deliberate revocation on instance `i`. */
async function revokeOne(i: number): Promise<void> {
  const o = await mix.run('revoke', i);
  outcomes.push({ ...o, at: Date.now() });
  if (o.revoked) acked.push({ session: o.revoked, at: Date.now(), confirmed: new Set(), late: new Map() });
}

/** Is the session's access token refused (introspection active: false) by instance i? */
async function holds(a: Acked, i: number): Promise<boolean | undefined> {
  const inst = instances[i] as Instance;
  try {
    const res = await postForm(
      `${inst.url}/introspect`,
      { token: a.session.accessToken },
      { authorization: basic(seeded.rs.id, seeded.rs.secret) },
    );
    if (res.status !== 200) return undefined;
    return res.body.active === false;
  } catch {
    return undefined;
  }
}

/** Every acknowledged revocation, one second after its acknowledgement, on every instance that is up. */
function startChecker(): Promise<void> {
  return (async () => {
    while (running) {
      const now = Date.now();
      for (const a of acked) {
        if (now - a.at < 1000) continue;
        for (const i of [0, 1, 2]) {
          if (a.confirmed.has(i) || down.has(i)) continue;
          const ok = await holds(a, i);
          if (ok === true) a.confirmed.add(i);
          else if (ok === false && !a.late.has(i)) a.late.set(i, Date.now() - a.at);
        }
      }
      await sleep(250);
    }
  })();
}

/** Both of two instances spending one refresh token at once: at most one may answer 200. */
async function doubleSpendRaces(n: number): Promise<{ races: number; bothAnswered: number }> {
  let races = 0;
  let bothAnswered = 0;
  for (let k = 0; k < n; k++) {
    const s = mix.takeSession();
    if (!s) break;
    const send = (i: number) =>
      postForm(
        `${instances[i]?.url}/token`,
        { grant_type: 'refresh_token', refresh_token: s.refreshToken },
        { authorization: basic(seeded.app.id, seeded.app.secret) },
      ).catch(() => undefined);
    const [a, b] = await Promise.all([send(0), send(1)]);
    races++;
    if (a?.status === 200 && b?.status === 200) bothAnswered++;
    // The loser's use is reuse: the family ends; the session leaves the pool.
  }
  return { races, bothAnswered };
}

/** Every instance answers /readyz 200 and a token request. */
async function allHealthy(): Promise<boolean> {
  for (const inst of instances) {
    const ready = await get(`${inst.url}/readyz`).catch(() => undefined);
    if (ready?.status !== 200) return false;
    const tok = await postForm(
      `${inst.url}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic(seeded.cc.id, seeded.cc.secret) },
    ).catch(() => undefined);
    if (tok?.status !== 200) return false;
  }
  return true;
}

async function fault(name: string, inject: () => Promise<number>): Promise<FaultReport> {
  console.warn(`chaos: ${name}`);
  const started = Date.now();
  const ackedBefore = acked.length;
  const healedAt = await inject();
  let recoveryMs: number | null = null;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    if (await allHealthy()) {
      recoveryMs = Date.now() - healedAt;
      break;
    }
    await sleep(100);
  }
  // Let the load run on the recovered instances, then sweep every acknowledged revocation.
  await sleep(5000);
  const races = await doubleSpendRaces(3);
  await sleep(1500);
  let lost = 0;
  for (const a of acked) {
    for (const i of [0, 1, 2]) {
      if (a.confirmed.has(i)) continue;
      const ok = await holds(a, i);
      if (ok === true) a.confirmed.add(i);
      else {
        lost++;
        break;
      }
    }
  }
  const window = outcomes.filter((o) => o.at >= started);
  const statuses: Record<string, number> = {};
  for (const o of window) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
  const mine = acked.slice(ackedBefore);
  const report: FaultReport = {
    fault: name,
    startedAt: new Date(started).toISOString(),
    outageMs: healedAt - started,
    recoveryMs,
    requests: window.length,
    statuses,
    bad5xx: window.filter((o) => o.status >= 500 && (o.status !== 503 || !o.retryAfter)).length,
    bad5xxSamples: [
      ...new Set(
        window
          .filter((o) => o.status >= 500 && (o.status !== 503 || !o.retryAfter))
          .map((o) => `${o.route} on i${o.target}: ${o.error} (Retry-After ${o.retryAfter ?? 'none'})`),
      ),
    ].slice(0, 8),
    networkErrors: window.filter((o) => o.status === 0).length,
    networkErrorSamples: [
      ...new Set(window.filter((o) => o.status === 0).map((o) => `${o.route} on i${o.target}: ${o.error}`)),
    ].slice(0, 8),
    otherErrors: [
      ...new Set(
        window.filter((o) => o.error && o.status > 0 && o.status < 500).map((o) => `${o.route}: ${o.error}`),
      ),
    ].slice(0, 8),
    revocationsAcked: mine.length,
    revocationsLate: acked.filter((a) => a.late.size > 0 && a.at >= started).length,
    revocationsLost: lost,
    doubleSpendRaces: races,
  };
  console.warn(
    `  recovery ${recoveryMs ?? 'never'} ms, ${report.requests} requests, bad 5xx ${report.bad5xx}, late ${report.revocationsLate}, lost ${lost}`,
  );
  return report;
}

let ok = false;
try {
  ok = await main();
} catch (err) {
  console.error(err);
  for (const inst of instances) console.error(`${inst.name}: ${inst.output().slice(-1500)}`);
} finally {
  running = false;
  for (const inst of instances) {
    inst.kill('SIGCONT');
    await inst.stop().catch(() => undefined);
  }
  await redis.stop();
  await pgServer.destroy();
}
process.exit(ok ? 0 : 1);
