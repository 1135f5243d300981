import { type Logger, pino } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { shareMetricsWithPrimary } from './cluster.js';
import type { LogLevel } from './config.js';
import type { EventBus } from './events.js';
import { RequestSeries } from './http/request_metrics.js';

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
  'cookie',
  '*.cookie',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

/** Bytes buffered before a write to stdout; the buffer is also written every FLUSH_INTERVAL_MS. */
const LOG_BUFFER_BYTES = 4096;
const FLUSH_INTERVAL_MS = 1000;

/**
 * The process logger. Without a destination it writes to stdout asynchronously (sonic-boom): lines
 * are buffered up to 4 KiB and written at least every second, so a line costs a few µs of CPU
 * instead of a write(2) each. Nothing is lost on exit: pino writes the buffer synchronously on
 * `exit` (the SIGTERM path ends in process.exit, src/main.ts), and services.close() flushes it.
 */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' } };
  if (destination) return pino(options, destination as never);
  const stdout = pino.destination({
    dest: 1,
    sync: false,
    minLength: LOG_BUFFER_BYTES,
    contentMode: 'buffer',
  });
  const log = pino(options, linesAsBuffers(stdout));
  setInterval(() => stdout.flush(), FLUSH_INTERVAL_MS).unref();
  return log;
}

/**
 * pino hands its destination one string per line. In its default string mode sonic-boom measures
 * the pending buffer with Buffer.byteLength on every write, which flattens a string that grows to
 * 16 KiB again and again: about 2 µs a line, more than pino's own work. In buffer mode it only adds
 * lengths; encoding the line once here costs a tenth of that (bench/README.md, "stack").
 */
function linesAsBuffers(stdout: ReturnType<typeof pino.destination>) {
  const sink = stdout as unknown as { write(line: Buffer): boolean };
  return {
    write: (line: string) => sink.write(Buffer.from(line)),
    flush: (done?: (err?: Error) => void) => stdout.flush(done),
    flushSync: () => stdout.flushSync(),
  };
}

/** Writes whatever the logger still buffers (its destination, when it buffers at all). */
export function flushLog(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}

/** Latency buckets (s): from a cached JWKS answer (~1 ms) to a queued argon2 login (~seconds). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The domain counters of docs/monitoring.md, by the name the code uses: metric name, help, and
 * label names. Labels come from closed sets (grant types, limiter names, fixed reasons): no
 * username, client secret, token or login failure reason, and a cardinality bounded by the code,
 * not by traffic.
 */
const COUNTERS = {
  tokensIssued: ['tessera_tokens_issued_total', 'Access tokens issued, by grant type', ['grant_type']],
  logins: [
    'tessera_logins_total',
    'Password logins by outcome (succeeded, failed); reasons are in the audit trail',
    ['outcome'],
  ],
  loginLockouts: [
    'tessera_login_lockouts_total',
    'Username+IP pairs locked after repeated failed logins',
    [],
  ],
  clientAuthFailures: ['tessera_client_auth_failures_total', 'Failed client authentications', []],
  accessTokenRejections: [
    'tessera_access_token_rejections_total',
    'Bearer access tokens refused (expired, revoked, bad_signature, ...)',
    ['reason'],
  ],
  introspections: [
    'tessera_introspections_total',
    'Introspection answers: result active or inactive, and why a token was inactive (none when active)',
    ['result', 'reason'],
  ],
  refreshRotations: ['tessera_refresh_rotations_total', 'Refresh tokens rotated', []],
  refreshReuse: [
    'tessera_refresh_reuse_detected_total',
    'Spent refresh tokens presented again: the family was revoked',
    [],
  ],
  refreshLeeway: [
    'tessera_refresh_leeway_uses_total',
    'Refresh tokens replayed within REFRESH_REUSE_LEEWAY (not treated as reuse)',
    [],
  ],
  codeReuse: [
    'tessera_authorization_code_reuse_detected_total',
    'Used authorization codes presented again: the session they started was revoked',
    [],
  ],
  revocations: ['tessera_revocations_total', 'Tokens revoked through /revoke, by token type', ['token_type']],
  sessionsEnded: ['tessera_sessions_ended_total', 'Sessions (refresh families) ended, by reason', ['reason']],
  rateLimitRejections: [
    'tessera_rate_limit_rejections_total',
    'Requests refused with 429, by limiter',
    ['limiter'],
  ],
  keyRotations: [
    'tessera_key_rotations_total',
    'Signing-key rotations (forced skips the JWKS wait)',
    ['forced'],
  ],
  dpopProofs: [
    'tessera_dpop_proofs_total',
    'DPoP proofs checked at /token and the resources, by result (accepted, rejected, nonce_required, replayed)',
    ['result'],
  ],
  keyRevocations: ['tessera_key_revocations_total', 'Signing keys revoked (pulled from JWKS)', []],
  dependencyErrors: [
    'tessera_dependency_errors_total',
    'Failed calls to a dependency (database, redis) that the server survived',
    ['dependency'],
  ],
  serverErrors: ['tessera_server_errors_total', 'Unexpected errors answered with 500 server_error', []],
} as const satisfies Record<string, readonly [name: string, help: string, labels: readonly string[]]>;

type Counters = { [K in keyof typeof COUNTERS]: Counter<(typeof COUNTERS)[K][2][number]> };

/** Every metric of docs/monitoring.md: the request series, the domain counters, the live gauges. */
export interface Metrics extends Counters {
  registry: Registry;
  /** HTTP requests by route pattern, method and status: count and latency (http/request_metrics.ts). */
  requests: RequestSeries;
  /** Adds the gauges that read live state at scrape time (once the services exist). */
  watch(probes: MetricProbes): void;
}

export interface MetricProbes {
  /** When the key that signs now was activated. */
  activeKeyActivatedAt: () => Date | undefined;
  now: () => number;
  /** Up checks, run at scrape time with a timeout; Redis only where it is configured. */
  database: () => Promise<boolean>;
  redis?: () => Promise<boolean>;
  /** The database connection pool (knex/tarn); absent for the embedded database. */
  pool?: () => PoolState | undefined;
  version: string;
}

export interface PoolState {
  used: number;
  idle: number;
  /** Queries waiting for a connection. */
  waiting: number;
}

/** Pool gauges, summed across workers: saturation shows as waiting > 0 (docs/monitoring.md). */
function watchPool(registry: Registry, pool: () => PoolState | undefined): void {
  const gauge = (name: string, help: string, read: (p: PoolState) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const state = pool();
        if (state) this.set(read(state));
      },
    });
  gauge('tessera_database_pool_connections_in_use', 'Database connections running a query', (p) => p.used);
  gauge('tessera_database_pool_connections_idle', 'Open database connections not in use', (p) => p.idle);
  gauge('tessera_database_pool_waiting', 'Queries waiting for a database connection', (p) => p.waiting);
}

/** What a knex pool (tarn.js) says about itself; undefined when the client has none. */
export function knexPoolState(db: { client: unknown }): PoolState | undefined {
  const pool = (db.client as { pool?: Record<string, unknown> }).pool;
  if (!pool || typeof pool.numUsed !== 'function') return undefined;
  const call = (name: string) => (pool[name] as () => number).call(pool);
  return {
    used: call('numUsed'),
    idle: call('numFree'),
    waiting: call('numPendingAcquires'),
  };
}

export function createMetrics(): Metrics {
  // One registry per app instance: no global state, so tests can run several apps in one process.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // WORKERS=n: every worker's /metrics answers for all of them (cluster.ts).
  shareMetricsWithPrimary(registry);
  return {
    registry,
    requests: new RequestSeries(registry, LATENCY_BUCKETS),
    ...counters(registry),
    watch: (probes) => watchLiveState(registry, probes),
  };
}

function counters(registry: Registry): Counters {
  const entries = Object.entries(COUNTERS).map(([key, [name, help, labelNames]]) => [
    key,
    new Counter({ name, help, labelNames, registers: [registry] }),
  ]);
  return Object.fromEntries(entries) as Counters;
}

/** Gauges computed at scrape time: build info, key age, and whether each dependency answers. */
function watchLiveState(registry: Registry, probes: MetricProbes): void {
  const info = new Gauge({
    name: 'tessera_build_info',
    help: 'Always 1; the labels say which build runs',
    labelNames: ['version', 'node_version'],
    registers: [registry],
    aggregator: 'first',
  });
  info.set({ version: probes.version, node_version: process.version }, 1);
  new Gauge({
    name: 'tessera_active_signing_key_age_seconds',
    help: 'Seconds since the signing key in use was activated',
    registers: [registry],
    aggregator: 'max',
    collect() {
      const at = probes.activeKeyActivatedAt();
      if (at) this.set(Math.max(0, (probes.now() - at.getTime()) / 1000));
    },
  });
  const up = (name: string, help: string, check: () => Promise<boolean>) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      // Across workers: down when any worker cannot reach it.
      aggregator: 'min',
      async collect() {
        this.set((await check()) ? 1 : 0);
      },
    });
  up('tessera_database_up', '1 when the database answers a query, else 0', probes.database);
  if (probes.pool) watchPool(registry, probes.pool);
  if (probes.redis) up('tessera_redis_up', '1 when Redis answers a PING, else 0', probes.redis);
}

/** A store error's own message says which dependency; its cause says what the driver saw. */
function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

/** Subscribes logging and metrics to domain events: the only place that decides what is logged. */
export function observeEvents(events: EventBus, log: Logger, metrics: Metrics): void {
  events.on('token.issued', (e) => {
    metrics.tokensIssued.inc({ grant_type: e.grantType });
    log.debug({ clientId: e.clientId, sub: e.sub, kid: e.kid, grant: e.grantType }, 'token issued');
  });
  events.on('login.failed', (e) => {
    // The reason goes to the debug log and the audit trail, never into a metric label.
    metrics.logins.inc({ outcome: 'failed' });
    log.debug({ clientId: e.clientId, reason: e.reason }, 'login failed');
  });
  events.on('login.locked', () => {
    metrics.loginLockouts.inc();
    log.info('login locked for a username and IP');
  });
  events.on('client.auth_failed', (e) => {
    metrics.clientAuthFailures.inc();
    log.info({ clientId: e.clientId, reason: e.reason }, 'client authentication failed');
  });
  events.on('token.rejected', (e) => metrics.accessTokenRejections.inc({ reason: e.reason }));
  events.on('introspection.answered', (e) => {
    // The caller only ever reads {"active": false} (RFC 7662 §2.2); the operator reads why here.
    metrics.introspections.inc({ result: e.active ? 'active' : 'inactive', reason: e.reason ?? 'none' });
    if (!e.active) log.debug({ clientId: e.clientId, reason: e.reason }, 'introspection: token inactive');
  });
  events.on('request.error', (e) => {
    log.debug({ error: e.error, status: e.status, detail: e.detail, route: e.route }, 'request refused');
  });
  events.on('server.error', (e) => {
    metrics.serverErrors.inc();
    log.error({ err: describeUnexpected(e.err), route: e.route }, 'unexpected error');
  });
  events.on('refresh.rotated', () => metrics.refreshRotations.inc());
  events.on('refresh.reuse_detected', (e) => {
    metrics.refreshReuse.inc();
    log.warn({ clientId: e.clientId, familyId: e.familyId }, 'refresh token reuse detected: family revoked');
  });
  events.on('code.reuse_detected', (e) => {
    metrics.codeReuse.inc();
    log.warn(
      { clientId: e.clientId, familyId: e.familyId },
      'authorization code reuse detected: session revoked',
    );
  });
  events.on('login.succeeded', (e) => {
    metrics.logins.inc({ outcome: 'succeeded' });
    log.info({ clientId: e.clientId, userId: e.userId, method: e.method }, 'signed in');
  });
  events.on('refresh.leeway_used', (e) => {
    metrics.refreshLeeway.inc();
    log.info({ clientId: e.clientId, familyId: e.familyId }, 'refresh token replayed within leeway');
  });
  events.on('session.revoked', (e) => {
    metrics.sessionsEnded.inc({ reason: e.reason });
    log.info({ familyId: e.familyId, reason: e.reason }, 'session revoked');
  });
  events.on('token.revoked', (e) =>
    metrics.revocations.inc({ token_type: e.kind === 'access' ? 'access_token' : 'refresh_token' }),
  );
  events.on('key.rotated', (e) => {
    metrics.keyRotations.inc({ forced: String(e.forced) });
    log.info({ activeKid: e.activeKid, nextKid: e.nextKid, forced: e.forced }, 'signing key rotated');
  });
  events.on('key.revoked', (e) => {
    metrics.keyRevocations.inc();
    log.warn({ kid: e.kid }, 'signing key revoked');
  });
  events.on('keys.reloaded', (e) => log.debug({ activeKid: e.activeKid, reason: e.reason }, 'keys reloaded'));
  events.on('dpop.proof_checked', (e) => metrics.dpopProofs.inc({ result: e.result }));
  events.on('ratelimit.exceeded', (e) => metrics.rateLimitRejections.inc({ limiter: e.limiter }));
  events.on('dependency.degraded', (e) => {
    metrics.dependencyErrors.inc({ dependency: e.dependency });
    log.warn({ dependency: e.dependency, err: errorMessage(e.err) }, 'dependency degraded');
  });
  events.on('dependency.recovered', (e) => {
    log.info({ dependency: e.dependency }, 'dependency recovered');
  });
}

/**
 * What an unexpected error may put in a log line. A database error (pg, PGlite, wrapped by knex)
 * carries the SQL in its message and the bound values in its fields, which can be passwords or
 * tokens: only its SQLSTATE code and the server routine are kept. Anything else keeps its type and
 * the start of its message, never a stack.
 */
export function describeUnexpected(err: unknown): Record<string, string> {
  if (!(err instanceof Error)) return { type: typeof err };
  const { code, routine, severity } = err as { code?: unknown; routine?: unknown; severity?: unknown };
  if (typeof routine === 'string' || typeof severity === 'string') {
    return {
      type: 'database',
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof routine === 'string' ? { routine } : {}),
    };
  }
  return {
    type: err.name,
    ...(typeof code === 'string' ? { code } : {}),
    message: err.message.split('\n')[0]?.slice(0, 200) ?? '',
  };
}
