import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { AuditTrail } from './audit/trail.js';
import { LoginSessions } from './authorize/login_sessions.js';
import { buildVersion } from './build_info.js';
import type { FetchPolicy } from './cimd/fetch.js';
import { MetadataDocumentResolver } from './cimd/resolver.js';
import { type Config, type DeploymentMode, deploymentMode, isEmbedded } from './config.js';
import { Consents } from './consent/consents.js';
import { type ConsentStore, PostgresConsentStore } from './consent/store.js';
import { connectDatabase } from './db/connect.js';
import { lockEmbeddedDatabase } from './db/embedded_lock.js';
import { migrateLatest, migrationStatus } from './db/migrate.js';
import { type NotificationSource, PostgresListener } from './db/notifications.js';
import { HmacDpopNonces } from './dpop/nonce.js';
import { DpopProofVerifier, IAT_WINDOW_S } from './dpop/proof.js';
import { MemoryReplayCache, type ReplayCache } from './dpop/replay.js';
import { PostgresReplayCache } from './dpop/replay_postgres.js';
import { RedisReplayCache } from './dpop/replay_redis.js';
import { ClientAccounts } from './endpoints/admin_clients.js';
import { UserAccounts } from './endpoints/admin_users.js';
import { Drain, type ReadinessCheck, runCheck } from './endpoints/health.js';
import { EventBus } from './events.js';
import { emitSignal, FactPublisher, type FactSink } from './facts/publisher.js';
import type { FactBatchWriter } from './facts/request_facts.js';
import { authorizationCodeGrant } from './grants/authorization_code.js';
import { clientCredentialsGrant } from './grants/client_credentials.js';
import { passwordGrant } from './grants/password.js';
import { refreshTokenGrant } from './grants/refresh_token.js';
import { type GrantRegistry, grantRegistry } from './grants/registry.js';
import { type LimiterBackend, type LimiterFactory, limiterFactory } from './http/limiter_store.js';
import { RateLimits } from './http/rate_limits.js';
import { resolveKek, UNLOADED_KEK } from './keys/kek.js';
import { KeyRing } from './keys/keyring.js';
import { KeyLifecycle } from './keys/lifecycle.js';
import { PostgresKeyChangeSignal } from './keys/postgres_signal.js';
import { scheduleRotation, watchKeyChanges } from './keys/propagation.js';
import { type KeyChangeSignal, LocalKeyChangeSignal, RedisKeyChangeSignal } from './keys/signal.js';
import type { CredentialDeps } from './login/credentials.js';
import {
  createLogger,
  createMetrics,
  flushLog,
  knexPoolState,
  type Metrics,
  observeEvents,
} from './observability.js';
import { closeRedis } from './redis/close.js';
import { connectRedis, type RedisClient } from './redis/connect.js';
import { warnIfRedisMayEvict } from './redis/eviction_check.js';
import { Registrations } from './registration/registrations.js';
import { PostgresRegistrationStore, type RegistrationStore } from './registration/store.js';
import { schedulePurge } from './sessions/purge.js';
import { guarded } from './stores/backend_errors.js';
import {
  CachedClientStore,
  CLIENT_CACHE_MAX_ENTRIES,
  CLIENT_CACHE_TTL_MS,
  type ClientTable,
} from './stores/cached_clients.js';
import { MemoryDenylist } from './stores/memory/denylist.js';
import { PostgresAuditStore } from './stores/postgres/audit_events.js';
import { PostgresAuthorizationCodeStore } from './stores/postgres/authorization_codes.js';
import { PostgresClientStore } from './stores/postgres/clients.js';
import { PostgresFactWriter } from './stores/postgres/facts.js';
import { PostgresLoginSessionStore } from './stores/postgres/login_sessions.js';
import { NotifiedDenylist } from './stores/postgres/notified_denylist.js';
import { PostgresRefreshTokenInspector } from './stores/postgres/refresh_token_inspector.js';
import { PostgresRefreshTokenStore } from './stores/postgres/refresh_tokens.js';
import { PostgresRevocationStore } from './stores/postgres/revocations.js';
import { PostgresSigningKeyStore } from './stores/postgres/signing_keys.js';
import { PostgresUserStore } from './stores/postgres/users.js';
import { RedisDenylist } from './stores/redis/denylist.js';
import type {
  AuditStamp,
  AuditStore,
  AuthorizationCodeStore,
  Denylist,
  LoginSessionStore,
  RefreshTokenInspector,
  RefreshTokenStore,
  RevocationStore,
  SigningKeyStore,
  UserStore,
} from './stores/types.js';
import { AccessTokenMinter, AccessTokenVerifier } from './tokens/access_token.js';
import { DEFAULT_PASSWORD_HASHING, PasswordHasher, type PasswordHashingOptions } from './tokens/passwords.js';

/**
 * The composition root, in four stages: backends → stores → domain → jobs. Each stage takes what
 * it needs from the earlier ones and returns what the next needs plus its own `close()`. The
 * server and the tests build all four (`buildServices`); the CLI stops before the jobs
 * (`buildCommandServices`).
 */

type Cleanup = () => Promise<void> | void;

/** Runs cleanups in reverse order of registration; the returned close is idempotent. */
function closer(cleanups: Cleanup[]): () => Promise<void> {
  let closed = false;
  return async () => {
    if (closed) return;
    closed = true;
    for (const c of [...cleanups].reverse()) await c();
  };
}

export interface BuildOptions {
  log?: Logger;
  /** Injected clock (ms since epoch); tests freeze or advance it. */
  now?: () => number;
  /** An already-open database (tests); otherwise opened from the config. */
  db?: Knex;
  hashing?: PasswordHashingOptions;
  /** Skip key initialisation and the jobs (CLI commands that only touch users/clients). */
  withoutKeys?: boolean;
  /**
   * `apply` pending migrations (default in embedded mode, and `tessera migrate`), `require` none
   * to be pending (default in production, which migrates only through `tessera migrate`), or
   * `report`: touch nothing (`tessera migrate --status`).
   */
  migrations?: 'apply' | 'require' | 'report';
  /** Replaces the key-change signal (tests: a shared in-process one, or one that drops messages). */
  keySignal?: KeyChangeSignal;
  /**
   * Do not read KEY_ENCRYPTION_KEY (nor generate one): CLI commands that seal or open no private
   * key, so operators and migration jobs need not hold it (docs/upgrades.md).
   */
  withoutKek?: boolean;
  /**
   * Open the LISTEN connection of the Postgres-only mode (default). A CLI command only writes: the
   * revocations trigger and the key NOTIFY tell the servers.
   */
  listen?: boolean;
  /**
   * Embedded mode: create the database when DATA_DIR holds none (default: the server does). The
   * CLI passes false, except `tessera migrate`: it never creates an empty one silently.
   */
  createEmbedded?: boolean;
  /** Tests: the TLS trust (a self-signed CA) and deadlines of metadata-document fetches. */
  metadataDocumentFetch?: Partial<FetchPolicy>;
}

// --- Stage 1: backends ---------------------------------------------------------------------------

export interface Backends {
  config: Config;
  log: Logger;
  events: EventBus;
  metrics: Metrics;
  now: () => number;
  db: Knex;
  /** Where the shared state lives: logged at start, answered by /readyz (docs/scaling.md). */
  mode: DeploymentMode;
  /** Undefined in embedded mode (no REDIS_URL / REDIS_CLUSTER_NODES). */
  redis: RedisClient | undefined;
  /** The LISTEN connection of the Postgres-only mode; undefined in every other mode and in the CLI. */
  notifications: NotificationSource | undefined;
  /** UNLOADED_KEK when built `withoutKek`. */
  kek: Uint8Array;
  /** Migrations this start applied (reported by `tessera migrate`). */
  appliedMigrations: string[];
  close(): Promise<void>;
}

/**
 * Production never migrates implicitly (docs/configuration.md): say so instead of failing on a
 * table. Migrations newer than this code are a rolling upgrade or a rollback in progress: logged,
 * never refused (docs/upgrades.md).
 */
async function prepareSchema(db: Knex, mode: 'apply' | 'require' | 'report', log: Logger): Promise<string[]> {
  if (mode === 'report') return [];
  // One listing in the usual case (nothing pending); knex's migration lock guards the apply.
  const status = await migrationStatus(db);
  const applying = mode === 'apply' && status.pending.length > 0;
  const applied = applying ? await migrateLatest(db) : [];
  const { pending, unknown } = applying ? await migrationStatus(db) : status;
  if (pending.length > 0) {
    throw new Error(
      `the database has ${pending.length} pending migration(s): run \`tessera migrate\` first (${pending.join(', ')})`,
    );
  }
  if (unknown.length > 0) {
    log.warn(
      { unknownMigrations: unknown },
      'the database has migrations newer than this release (a rolling upgrade or a rollback): carrying on',
    );
  }
  return applied;
}

function openDatabase(config: Config, options: BuildOptions, log: Logger, cleanups: Cleanup[]): Knex {
  if (options.db) return options.db;
  if (isEmbedded(config))
    cleanups.push(lockEmbeddedDatabase(config.dataDir, { create: options.createEmbedded !== false }));
  const db = connectDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: config.databasePoolMax,
    log,
  });
  cleanups.push(() => db.destroy());
  return db;
}

function openRedis(config: Config, log: Logger, cleanups: Cleanup[]): RedisClient | undefined {
  const redis = connectRedis(config);
  if (!redis) return undefined;
  // Errors surface through commands (and the fallbacks); an unhandled 'error' event would crash.
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
  cleanups.push(() => closeRedis(redis));
  void warnIfRedisMayEvict(redis, log);
  return redis;
}

/** Postgres only: one dedicated LISTEN connection per server process (docs/scaling.md). */
function openListener(
  config: Config,
  mode: DeploymentMode,
  options: BuildOptions,
  cleanups: Cleanup[],
): NotificationSource | undefined {
  if (mode !== 'postgres' || options.listen === false || !config.databaseListenUrl) return undefined;
  const listener = new PostgresListener(config.databaseListenUrl);
  cleanups.push(() => listener.close());
  return listener;
}

/** Embedded lock, database, migrations, Redis, the KEK; logging and metrics observe the events. */
export async function openBackends(config: Config, options: BuildOptions = {}): Promise<Backends> {
  const log = options.log ?? createLogger(config.logLevel);
  const events = new EventBus();
  const metrics = createMetrics();
  observeEvents(events, log, metrics);
  // Registered first, so it runs last: the log lines of the shutdown itself are written too.
  const cleanups: Cleanup[] = [() => flushLog(log)];
  const close = closer(cleanups);
  try {
    const db = openDatabase(config, options, log, cleanups);
    const appliedMigrations = await prepareSchema(
      db,
      options.migrations ?? (isEmbedded(config) ? 'apply' : 'require'),
      log,
    );
    const kek = options.withoutKek ? UNLOADED_KEK : resolveKek(config).kek;
    const mode = deploymentMode(config);
    const redis = openRedis(config, log, cleanups);
    const notifications = openListener(config, mode, options, cleanups);
    const now = options.now ?? Date.now;
    return {
      config,
      log,
      events,
      metrics,
      now,
      db,
      mode,
      redis,
      notifications,
      kek,
      appliedMigrations,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

// --- Stage 2: stores -----------------------------------------------------------------------------

export interface Stores {
  users: UserStore;
  /**
   * The client as the request paths read it, read-through cached: client authentication and every
   * token check read it; metadata-document clients come from their documents (docs/mcp.md).
   */
  clients: CachedClientStore;
  /**
   * The client table itself (third-party clients with their limits): the admin API, the CLI and
   * registration read and write it; its writes make this instance's cache forget the client.
   */
  clientTable: ClientTable;
  /** Users' consents to third-party clients. */
  consentStore: ConsentStore;
  /** RFC 7592 registration access tokens and registered metadata. */
  registrationStore: RegistrationStore;
  /** Builds rate limiters on the shared-state store (registrations per IP). */
  limiters: LimiterFactory;
  signingKeys: SigningKeyStore;
  revocations: RevocationStore;
  refreshTokens: RefreshTokenStore;
  /** Introspection's read-only view of live refresh tokens. */
  refreshInspector: RefreshTokenInspector;
  /** Single-use codes of the authorization code flow (docs/browser-apps.md). */
  authorizationCodes: AuthorizationCodeStore;
  /** Browser sign-ins at /authorize. */
  loginSessionStore: LoginSessionStore;
  denylist: Denylist;
  /** After commit, the one sender of facts to events, metrics, logs and the denylist cache. */
  publisher: FactPublisher;
  /** The login throttle and the per-client request limits (Redis, Postgres, or memory when embedded). */
  rateLimits: RateLimits;
  /** The audit trail (docs/audit.md). */
  auditEvents: AuditStore;
  /** DPoP proofs seen recently (RFC 9449 §11.1), where the denylist lives (docs/dpop.md). */
  dpopReplay: ReplayCache;
  readiness: ReadinessCheck[];
  /** Started on SIGTERM: /readyz fails while requests drain (src/main.ts). */
  drain: Drain;
  close(): Promise<void>;
}

/**
 * One line per store: the implementation of every port is chosen here. Database-backed stores are
 * `guarded`, so a database outage leaves them as a typed StoreError naming the database; the Redis
 * ones fall back to Postgres or memory themselves and report Redis outages as events.
 */
export async function openStores(b: Backends, options: BuildOptions = {}): Promise<Stores> {
  const { db, config, events, now } = b;
  const users = guarded(new PostgresUserStore(db), 'database');
  const thirdParty = { ...config.thirdParty, issuer: config.issuer };
  const clientTable = guarded(new PostgresClientStore(db, config.issuer, thirdParty), 'database');
  const clients = cachedClients(b, clientTable, options);
  const signingKeys = guarded(new PostgresSigningKeyStore(db), 'database');
  const revocations = guarded(new PostgresRevocationStore(db), 'database');
  const refreshInspector = guarded(new PostgresRefreshTokenInspector(db), 'database');
  const auditEvents = guarded(new PostgresAuditStore(db), 'database');
  const authorizationCodes = guarded(new PostgresAuthorizationCodeStore(db), 'database');
  const loginSessionStore = guarded(new PostgresLoginSessionStore(db), 'database');
  const denylist = openDenylist(b, revocations, options.listen !== false);
  // After commit, the one sender of facts; the refresh store publishes the sessions it ended.
  const publisher = new FactPublisher({ events, denylist });
  const refreshTokens = guarded(
    new PostgresRefreshTokenStore(db, { accessTokenTtl: config.accessTokenTtl, now, publisher }),
    'database',
  );
  const limiters = limiterFactory(limiterBackend(b));
  const rateLimits = new RateLimits({
    limiter: limiters,
    limits: config.rateLimits,
    events,
    now,
  });

  const dpopReplay = openDpopReplay(b);
  await denylist.load();
  const readiness = readinessChecks(b, denylist);
  const close = async () => {
    // Before the connections close: unused per-client slices go back to the shared counters.
    await rateLimits.close();
    await dpopReplay.close?.();
    await denylist.close?.();
  };
  return {
    users,
    clients,
    clientTable,
    signingKeys,
    revocations,
    refreshTokens,
    refreshInspector,
    authorizationCodes,
    loginSessionStore,
    denylist,
    publisher,
    rateLimits,
    auditEvents,
    dpopReplay,
    consentStore: guarded(new PostgresConsentStore(db), 'database'),
    registrationStore: guarded(new PostgresRegistrationStore(db), 'database'),
    limiters,
    readiness,
    drain: new Drain(),
    close,
  };
}

/** The DPoP replay cache beside the denylist: Redis (Postgres while it fails), Postgres, or memory. */
function openDpopReplay(b: Backends): ReplayCache {
  const { redis, config, events, now } = b;
  if (!redis && b.mode !== 'postgres') return new MemoryReplayCache(now);
  const durable = new PostgresReplayCache(b.db, now);
  durable.startPurge();
  const postgres = guarded(durable, 'database');
  if (!redis) return postgres;
  return new RedisReplayCache({
    redis,
    prefix: config.redisKeyPrefix,
    fallback: postgres,
    events,
    now,
    proofLifetimeMs: 2 * (IAT_WINDOW_S + 1) * 1000,
  });
}

/** The hot-path client reader: cached, and with metadata documents when on (docs/mcp.md). */
function cachedClients(b: Backends, table: ClientTable, options: BuildOptions) {
  const { config, log, now } = b;
  const settings = { ...config.thirdParty, issuer: config.issuer };
  if (config.thirdParty.metadataDocuments && config.thirdParty.cimdAllowLoopback)
    log.warn(
      'CIMD_ALLOW_LOOPBACK is set: metadata documents may come from loopback (development and tests only)',
    );
  const documents = config.thirdParty.metadataDocuments
    ? new MetadataDocumentResolver({
        settings,
        now,
        policy: options.metadataDocumentFetch,
        onFailure: (clientId, reason) => log.info({ clientId, reason }, 'client metadata document refused'),
      })
    : undefined;
  return new CachedClientStore(table, now, CLIENT_CACHE_TTL_MS, CLIENT_CACHE_MAX_ENTRIES, documents);
}

/**
 * Redis when configured; else Postgres (with its LISTEN copy in servers); in-process when embedded.
 * A server keeps a pub/sub-fed replica of the Redis denylist; the CLI (`listen: false`) only writes.
 */
function openDenylist(
  b: Backends,
  durable: RevocationStore,
  replica: boolean,
): Denylist & { load(): Promise<void> } {
  const { redis, config, events, now } = b;
  if (redis)
    return new RedisDenylist({ redis, durable, prefix: config.redisKeyPrefix, events, now, replica });
  if (b.mode === 'postgres')
    return new NotifiedDenylist({ durable, notifications: b.notifications, events, now });
  return new MemoryDenylist(durable, now);
}

/** Rate-limit counters live with the rest of the shared state (docs/scaling.md). */
function limiterBackend(b: Backends): LimiterBackend {
  if (b.redis) return { kind: 'redis', redis: b.redis, prefix: b.config.redisKeyPrefix };
  return b.mode === 'postgres' ? { kind: 'postgres', db: b.db } : { kind: 'memory' };
}

/**
 * The database is critical. Redis and the Postgres listener are not: without them the denylist
 * reads Postgres and rate limits use memory or Postgres (docs/scaling.md, outage table).
 */
function readinessChecks(b: Backends, denylist: Denylist): ReadinessCheck[] {
  const { db, notifications } = b;
  const database: ReadinessCheck = {
    name: 'database',
    critical: true,
    run: async () => {
      await db.raw('select 1');
      return 'ok';
    },
  };
  if (notifications) {
    return [
      database,
      {
        name: 'notifications',
        critical: false,
        run: async () => (notifications.state() === 'up' ? 'ok' : 'down'),
      },
    ];
  }
  return [
    database,
    {
      name: 'redis',
      critical: false,
      run: async () =>
        denylist instanceof RedisDenylist ? ((await denylist.ping()) ? 'ok' : 'down') : 'embedded',
    },
  ];
}

// --- Stage 3: domain -----------------------------------------------------------------------------

export interface Domain {
  hasher: PasswordHasher;
  keys: KeyRing;
  minter: AccessTokenMinter;
  verifier: AccessTokenVerifier;
  /** The login session cookie of /authorize. */
  loginSessions: LoginSessions;
  /** The one password check (src/login/credentials.ts): the password grant and the login page. */
  credentials: CredentialDeps;
  grants: GrantRegistry;
  /** Rotation, revocation and listing of signing keys (docs/keys.md). */
  keyLifecycle: KeyLifecycle;
  /** "Reload your keys": Redis pub/sub in production, in-process in embedded mode. */
  keySignal: KeyChangeSignal;
  userAccounts: UserAccounts;
  clientAccounts: ClientAccounts;
  /** Reads and purges the audit trail. */
  audit: AuditTrail;
  /**
   * The writer of facts that have no transaction of their own (src/stores/postgres/facts.ts); its
   * `write` is the per-request audit insert (src/facts/request_writer.ts).
   */
  facts: FactSink & FactBatchWriter;
  /** RFC 9449 §4.3 proof checks for /token and Tessera's own resources (docs/dpop.md). */
  dpopProofs: DpopProofVerifier;
  /** RFC 9449 §8 server nonces (required at /token with DPOP_NONCE=true). */
  dpopNonces: HmacDpopNonces;
  /** Users' consents to third-party clients (docs/mcp.md). */
  consents: Consents;
  /** RFC 7591 / RFC 7592 dynamic client registration. */
  registrations: Registrations;
  close(): Promise<void>;
}

/**
 * Publishes on the shared Redis connection; the signal adds the one dedicated subscriber
 * connection pub/sub needs. Commands that load no keys (most of the CLI) subscribe to nothing.
 * Without Redis, Postgres NOTIFY carries it (heard on the process's LISTEN connection, if any).
 */
function keyChangeSignal(b: Backends, options: BuildOptions): KeyChangeSignal {
  if (options.keySignal) return options.keySignal;
  if (b.mode === 'postgres') return new PostgresKeyChangeSignal(b.db, b.notifications);
  if (!b.redis || options.withoutKeys) return new LocalKeyChangeSignal();
  return new RedisKeyChangeSignal(b.redis, `${b.config.redisKeyPrefix}keys`, (err) =>
    emitSignal(b.events, 'dependency.degraded', { dependency: 'redis', err }),
  );
}

function keyLifecycle(
  b: Backends,
  s: Stores,
  keys: KeyRing,
  signal: KeyChangeSignal,
  publisher: FactPublisher,
): KeyLifecycle {
  const { config } = b;
  return new KeyLifecycle({
    store: s.signingKeys,
    keys,
    kek: b.kek,
    signal,
    events: b.events,
    publisher,
    now: b.now,
    settings: {
      signingAlg: config.signingAlg,
      jwksMaxAge: config.jwksMaxAge,
      keyReloadInterval: config.keyReloadInterval,
      accessTokenTtl: config.accessTokenTtl,
    },
    maxClientAccessTokenTtl: async () =>
      Math.max(0, ...(await s.clientTable.list()).map((c) => c.accessTokenTtl ?? 0)),
  });
}

function grants(b: Backends, s: Stores, d: Pick<Domain, 'credentials' | 'minter'>): GrantRegistry {
  const { config, now } = b;
  const { accessTokenTtl } = config;
  const { minter } = d;
  const { publisher, refreshTokens } = s;
  // Every login starts a session (refresh family): its id is the `sid` that /logout ends.
  const sessions = { refreshTokens, settings: config, now };
  return grantRegistry([
    passwordGrant({ credentials: d.credentials, minter, publisher, accessTokenTtl, sessions }),
    refreshTokenGrant({
      refreshTokens,
      settings: config,
      now,
      users: s.users,
      minter,
      publisher,
      accessTokenTtl,
    }),
    authorizationCodeGrant({
      codes: s.authorizationCodes,
      sessions,
      users: s.users,
      minter,
      publisher,
      accessTokenTtl,
      now: b.now,
    }),
    clientCredentialsGrant({ minter, publisher, accessTokenTtl }),
  ]);
}

/** Sessions, keys, token minting and verification, the grants and the account services. */
export async function buildDomain(b: Backends, s: Stores, options: BuildOptions = {}): Promise<Domain> {
  const { config, now } = b;
  const hasher = new PasswordHasher(options.hashing ?? DEFAULT_PASSWORD_HASHING);
  const keys = new KeyRing({ store: s.signingKeys, kek: b.kek, signingAlg: config.signingAlg, now });
  if (!options.withoutKeys) await keys.initialise();
  const minter = new AccessTokenMinter(keys, config.issuer, now);
  const verifier = new AccessTokenVerifier(keys, config.issuer, s.denylist, now, (id) =>
    s.clients.isActive(id),
  );
  const { publisher } = s;
  const keySignal = keyChangeSignal(b, options);
  const audit = new AuditTrail({ store: s.auditEvents, now });
  const facts = guarded(new PostgresFactWriter(b.db, { publisher, now }), 'database');
  const credentials = { users: s.users, hasher, throttle: s.rateLimits, facts };
  // Sessions end on their store, which audits, denylists and publishes (docs/sessions.md).
  const endUserSessions = async (id: string, reason: string, stamp: AuditStamp) =>
    void (await s.refreshTokens.revokeUserSessions(id, { reason, audit: stamp }));
  const dpopNonces = new HmacDpopNonces(b.kek, now);
  const endClientSessions = async (id: string, reason: string, stamp: AuditStamp) =>
    void (await s.refreshTokens.revokeClientFamilies(id, { reason, audit: stamp }));
  return {
    hasher,
    keys,
    minter,
    verifier,
    loginSessions: new LoginSessions({
      store: s.loginSessionStore,
      users: s.users,
      publisher,
      ttl: config.loginSessionTtl,
      now,
    }),
    credentials,
    grants: grants(b, s, { credentials, minter }),
    keyLifecycle: keyLifecycle(b, s, keys, keySignal, publisher),
    keySignal,
    userAccounts: new UserAccounts({ users: s.users, hasher, now, facts, endSessions: endUserSessions }),
    clientAccounts: new ClientAccounts({
      clients: s.clientTable,
      issuer: config.issuer,
      now,
      facts,
      endSessions: endClientSessions,
    }),
    audit,
    facts,
    dpopProofs: new DpopProofVerifier({ replay: s.dpopReplay, nonces: dpopNonces, now, events: b.events }),
    dpopNonces,
    consents: new Consents({
      store: s.consentStore,
      ttl: config.thirdParty.consentTtl,
      now,
      facts,
      refreshTokens: s.refreshTokens,
    }),
    registrations: new Registrations({
      clients: s.clientTable,
      store: s.registrationStore,
      consents: s.consentStore,
      facts,
      endSessions: endClientSessions,
      issuer: config.issuer,
      scopes: config.thirdParty.scopes,
      now,
    }),
    close: async () => keySignal.close(),
  };
}

// --- Stage 4: background jobs --------------------------------------------------------------------

/** The hourly purge, key-change watching and scheduled rotation; all timers unref'd. */
export function startJobs(b: Backends, s: Stores, d: Domain): { close(): void } {
  const { config, events } = b;
  const stops = [
    schedulePurge({
      refreshTokens: s.refreshTokens,
      revocations: s.revocations,
      audit: s.auditEvents,
      auditRetention: config.auditRetention,
      authorizationCodes: s.authorizationCodes,
      loginSessions: s.loginSessionStore,
      now: b.now,
      log: b.log,
    }),
    watchKeyChanges({ keys: d.keys, signal: d.keySignal, events, reloadInterval: config.keyReloadInterval }),
    scheduleRotation({ lifecycle: d.keyLifecycle, events, interval: config.keyRotationInterval }),
  ];
  return {
    close: () => {
      for (const stop of stops) stop();
    },
  };
}

// --- The whole ------------------------------------------------------------------------------------

/** Everything built from the config; the server, the CLI and the tests take the parts they use. */
export type Services = Omit<Backends, 'close'> &
  Omit<Stores, 'close'> &
  Omit<Domain, 'close'> & {
    /** Stops timers and closes connections; idempotent. */
    close(): Promise<void>;
  };

const STATE: Record<DeploymentMode, string> = {
  embedded: 'in-process',
  redis: 'redis',
  'redis-cluster': 'redis-cluster',
  postgres: 'postgres-notify',
};

function logBackends(b: Backends): void {
  const { config } = b;
  b.log.info(
    {
      mode: b.mode,
      database: config.databaseUrl ? 'postgres' : 'pglite',
      state: STATE[b.mode],
      signingAlg: config.signingAlg,
    },
    'backends selected',
  );
}

/** When the key signing now was activated (the age an operator alerts on, docs/monitoring.md). */
function activeKeyActivatedAt(keys: KeyRing): Date | undefined {
  const { signer, records } = keys.current();
  return records.find((r) => r.kid === signer.kid)?.activatedAt ?? undefined;
}

/** The gauges read at scrape time: key age, database and Redis up, build info. */
function watchLiveState(b: Backends, s: Stores, d: Domain, options: BuildOptions): void {
  const [databaseCheck, redisCheck] = s.readiness;
  b.metrics.watch({
    activeKeyActivatedAt: () => (options.withoutKeys ? undefined : activeKeyActivatedAt(d.keys)),
    now: b.now,
    database: async () => databaseCheck !== undefined && (await runCheck(databaseCheck)) === 'ok',
    redis: b.redis && redisCheck ? async () => (await runCheck(redisCheck)) === 'ok' : undefined,
    pool: () => knexPoolState(b.db),
    version: buildVersion(),
  });
}

async function assemble(config: Config, options: BuildOptions, withJobs: boolean): Promise<Services> {
  const backends = await openBackends(config, options);
  const cleanups: Cleanup[] = [backends.close];
  const close = closer(cleanups);
  try {
    const stores = await openStores(backends, options);
    cleanups.push(stores.close);
    const domain = await buildDomain(backends, stores, options);
    cleanups.push(domain.close);
    if (withJobs) cleanups.push(startJobs(backends, stores, domain).close);
    watchLiveState(backends, stores, domain, options);
    logBackends(backends);
    return { ...backends, ...stores, ...domain, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The server (and the tests): all four stages. A failing stage closes the ones already open. */
export async function buildServices(config: Config, options: BuildOptions = {}): Promise<Services> {
  return assemble(config, options, !options.withoutKeys);
}

/**
 * One CLI command: backends, stores and domain; a short-lived process runs no background jobs and
 * listens to nothing.
 */
export async function buildCommandServices(config: Config, options: BuildOptions = {}): Promise<Services> {
  return assemble(config, { ...options, listen: false }, false);
}
