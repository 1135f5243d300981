import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ClientAccounts } from './accounts/clients.js';
import { UserAccounts } from './accounts/users.js';
import { LoginSessions } from './authorize/login_sessions.js';
import { type Config, isEmbedded } from './config.js';
import { connectDatabase } from './db/connect.js';
import { lockEmbeddedDatabase } from './db/embedded_lock.js';
import { migrateLatest, pendingMigrations } from './db/migrate.js';
import type { ReadinessCheck } from './endpoints/health.js';
import { EventBus } from './events.js';
import { authorizationCodeGrant } from './grants/authorization_code.js';
import { clientCredentialsGrant } from './grants/client_credentials.js';
import { passwordGrant } from './grants/password.js';
import { refreshTokenGrant } from './grants/refresh_token.js';
import { type GrantRegistry, grantRegistry } from './grants/registry.js';
import { RateLimits } from './http/rate_limits.js';
import { resolveKek } from './keys/kek.js';
import { KeyRing } from './keys/keyring.js';
import { KeyLifecycle } from './keys/lifecycle.js';
import { scheduleRotation, watchKeyChanges } from './keys/propagation.js';
import { type KeyChangeSignal, LocalKeyChangeSignal, RedisKeyChangeSignal } from './keys/signal.js';
import { createLogger, createMetrics, type Metrics, observeEvents } from './observability.js';
import { closeRedis } from './redis/close.js';
import { connectRedis, type RedisClient } from './redis/connect.js';
import { warnIfRedisMayEvict } from './redis/eviction_check.js';
import { schedulePurge } from './sessions/purge.js';
import { Sessions } from './sessions/sessions.js';
import { guarded } from './stores/backend_errors.js';
import { CachedClientStore } from './stores/cached_clients.js';
import { MemoryDenylist } from './stores/memory/denylist.js';
import { PostgresAuthorizationCodeStore } from './stores/postgres/authorization_codes.js';
import { PostgresClientStore } from './stores/postgres/clients.js';
import { PostgresLoginSessionStore } from './stores/postgres/login_sessions.js';
import { PostgresRefreshTokenInspector } from './stores/postgres/refresh_token_inspector.js';
import { PostgresRefreshTokenStore } from './stores/postgres/refresh_tokens.js';
import { PostgresRevocationStore } from './stores/postgres/revocations.js';
import { PostgresSigningKeyStore } from './stores/postgres/signing_keys.js';
import { PostgresUserStore } from './stores/postgres/users.js';
import { RedisDenylist } from './stores/redis/denylist.js';
import type {
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
   * `apply` pending migrations (default in embedded mode, and `tessera migrate`), or `require` none
   * to be pending (default in production, which migrates only through `tessera migrate`).
   */
  migrations?: 'apply' | 'require';
  /** Replaces the key-change signal (tests: a shared in-process one, or one that drops messages). */
  keySignal?: KeyChangeSignal;
}

// --- Stage 1: backends ---------------------------------------------------------------------------

export interface Backends {
  config: Config;
  log: Logger;
  events: EventBus;
  metrics: Metrics;
  now: () => number;
  db: Knex;
  /** Undefined in embedded mode (no REDIS_URL / REDIS_CLUSTER_NODES). */
  redis: RedisClient | undefined;
  kek: Uint8Array;
  /** Migrations this start applied (reported by `tessera migrate`). */
  appliedMigrations: string[];
  close(): Promise<void>;
}

/** Production never migrates implicitly (docs/configuration.md): say so instead of failing on a table. */
async function prepareSchema(db: Knex, mode: 'apply' | 'require'): Promise<string[]> {
  if (mode === 'apply') return migrateLatest(db);
  const pending = await pendingMigrations(db);
  if (pending.length > 0) {
    throw new Error(`the database has ${pending.length} pending migration(s): run \`tessera migrate\` first`);
  }
  return [];
}

function openDatabase(config: Config, options: BuildOptions, log: Logger, cleanups: Cleanup[]): Knex {
  if (options.db) return options.db;
  if (isEmbedded(config)) cleanups.push(lockEmbeddedDatabase(config.dataDir));
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

/** Embedded lock, database, migrations, Redis, the KEK; logging and metrics observe the events. */
export async function openBackends(config: Config, options: BuildOptions = {}): Promise<Backends> {
  const log = options.log ?? createLogger(config.logLevel);
  const events = new EventBus();
  const metrics = createMetrics();
  observeEvents(events, log, metrics);
  const cleanups: Cleanup[] = [];
  const close = closer(cleanups);
  try {
    const db = openDatabase(config, options, log, cleanups);
    const appliedMigrations = await prepareSchema(
      db,
      options.migrations ?? (isEmbedded(config) ? 'apply' : 'require'),
    );
    const { kek } = resolveKek(config);
    const redis = openRedis(config, log, cleanups);
    const now = options.now ?? Date.now;
    return { config, log, events, metrics, now, db, redis, kek, appliedMigrations, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// --- Stage 2: stores -----------------------------------------------------------------------------

export interface Stores {
  users: UserStore;
  /** Read-through cached: client authentication and every token check read it. */
  clients: CachedClientStore;
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
  /** The login throttle and the per-client request limits (Redis, or memory when embedded). */
  rateLimits: RateLimits;
  readiness: ReadinessCheck[];
  close(): Promise<void>;
}

/**
 * One line per store: the implementation of every port is chosen here. Database-backed stores are
 * `guarded`, so a database outage leaves them as a typed StoreError naming the database; the Redis
 * ones fall back to Postgres or memory themselves and report Redis outages as events.
 */
export async function openStores(b: Backends): Promise<Stores> {
  const { db, redis, config, events, now } = b;
  const users = guarded(new PostgresUserStore(db), 'database');
  const clients = new CachedClientStore(guarded(new PostgresClientStore(db), 'database'), now);
  const signingKeys = guarded(new PostgresSigningKeyStore(db), 'database');
  const revocations = guarded(new PostgresRevocationStore(db), 'database');
  const refreshTokens = guarded(new PostgresRefreshTokenStore(db), 'database');
  const refreshInspector = guarded(new PostgresRefreshTokenInspector(db), 'database');
  const authorizationCodes = guarded(new PostgresAuthorizationCodeStore(db), 'database');
  const loginSessionStore = guarded(new PostgresLoginSessionStore(db), 'database');
  const denylist: Denylist & { load(): Promise<void> } = redis
    ? new RedisDenylist({ redis, durable: revocations, prefix: config.redisKeyPrefix, events, now })
    : new MemoryDenylist(revocations, now);
  const rateLimits = new RateLimits({
    redis,
    prefix: config.redisKeyPrefix,
    limits: config.rateLimits,
    events,
  });

  await denylist.load();
  const readiness = readinessChecks(db, denylist);
  const close = async () => denylist.close?.();
  return {
    users,
    clients,
    signingKeys,
    revocations,
    refreshTokens,
    refreshInspector,
    authorizationCodes,
    loginSessionStore,
    denylist,
    rateLimits,
    readiness,
    close,
  };
}

/** The database is critical; without Redis the denylist reads Postgres and rate limits use memory. */
function readinessChecks(db: Knex, denylist: Denylist): ReadinessCheck[] {
  return [
    {
      name: 'database',
      critical: true,
      run: async () => {
        await db.raw('select 1');
        return 'ok';
      },
    },
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
  sessions: Sessions;
  /** The login session cookie of /authorize. */
  loginSessions: LoginSessions;
  grants: GrantRegistry;
  /** Rotation, revocation and listing of signing keys (docs/keys.md). */
  keyLifecycle: KeyLifecycle;
  /** "Reload your keys": Redis pub/sub in production, in-process in embedded mode. */
  keySignal: KeyChangeSignal;
  userAccounts: UserAccounts;
  clientAccounts: ClientAccounts;
  close(): Promise<void>;
}

/**
 * Publishes on the shared Redis connection; the signal adds the one dedicated subscriber
 * connection pub/sub needs. Commands that load no keys (most of the CLI) subscribe to nothing.
 */
function keyChangeSignal(b: Backends, options: BuildOptions): KeyChangeSignal {
  if (options.keySignal) return options.keySignal;
  if (!b.redis || options.withoutKeys) return new LocalKeyChangeSignal();
  return new RedisKeyChangeSignal(b.redis, `${b.config.redisKeyPrefix}keys`, (err) =>
    b.events.emit('dependency.degraded', { dependency: 'redis', err }),
  );
}

function keyLifecycle(b: Backends, s: Stores, keys: KeyRing, signal: KeyChangeSignal): KeyLifecycle {
  const { config } = b;
  return new KeyLifecycle({
    store: s.signingKeys,
    keys,
    kek: b.kek,
    signal,
    events: b.events,
    now: b.now,
    settings: {
      signingAlg: config.signingAlg,
      jwksMaxAge: config.jwksMaxAge,
      keyReloadInterval: config.keyReloadInterval,
      accessTokenTtl: config.accessTokenTtl,
    },
    maxClientAccessTokenTtl: async () =>
      Math.max(0, ...(await s.clients.list()).map((c) => c.accessTokenTtl ?? 0)),
  });
}

function grants(b: Backends, s: Stores, d: Pick<Domain, 'hasher' | 'minter' | 'sessions'>): GrantRegistry {
  const { events } = b;
  const { accessTokenTtl } = b.config;
  const { minter, sessions } = d;
  return grantRegistry([
    passwordGrant({
      users: s.users,
      hasher: d.hasher,
      minter,
      events,
      accessTokenTtl,
      throttle: s.rateLimits,
      sessions,
    }),
    refreshTokenGrant({ sessions, users: s.users, minter, events, accessTokenTtl }),
    authorizationCodeGrant({
      codes: s.authorizationCodes,
      sessions,
      users: s.users,
      minter,
      events,
      accessTokenTtl,
      now: b.now,
    }),
    clientCredentialsGrant({ minter, events, accessTokenTtl }),
  ]);
}

/** Sessions, keys, token minting and verification, the grants and the account services. */
export async function buildDomain(b: Backends, s: Stores, options: BuildOptions = {}): Promise<Domain> {
  const { config, events, now } = b;
  const hasher = new PasswordHasher(options.hashing ?? DEFAULT_PASSWORD_HASHING);
  const keys = new KeyRing({ store: s.signingKeys, kek: b.kek, signingAlg: config.signingAlg, now });
  if (!options.withoutKeys) await keys.initialise();
  const minter = new AccessTokenMinter(keys, config.issuer, now);
  const verifier = new AccessTokenVerifier(keys, config.issuer, s.denylist, now, (id) =>
    s.clients.isActive(id),
  );
  const sessions = new Sessions({
    refreshTokens: s.refreshTokens,
    denylist: s.denylist,
    events,
    settings: config,
    now,
  });
  const keySignal = keyChangeSignal(b, options);
  const endUserSessions = async (id: string, reason: string) =>
    void (await sessions.endUserSessions(id, reason));
  const endClientSessions = async (id: string, reason: string) =>
    void (await sessions.endClientSessions(id, reason));
  return {
    hasher,
    keys,
    minter,
    verifier,
    sessions,
    loginSessions: new LoginSessions({
      store: s.loginSessionStore,
      users: s.users,
      ttl: config.loginSessionTtl,
      now,
    }),
    grants: grants(b, s, { hasher, minter, sessions }),
    keyLifecycle: keyLifecycle(b, s, keys, keySignal),
    keySignal,
    userAccounts: new UserAccounts({ users: s.users, hasher, now, endSessions: endUserSessions }),
    clientAccounts: new ClientAccounts({
      clients: s.clients,
      issuer: config.issuer,
      now,
      endSessions: endClientSessions,
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

function logBackends(b: Backends): void {
  const { config, redis } = b;
  b.log.info(
    {
      database: config.databaseUrl ? 'postgres' : 'pglite',
      state: config.redisClusterNodes?.length ? 'redis-cluster' : redis ? 'redis' : 'in-process',
      signingAlg: config.signingAlg,
    },
    'backends selected',
  );
}

async function assemble(config: Config, options: BuildOptions, withJobs: boolean): Promise<Services> {
  const backends = await openBackends(config, options);
  const cleanups: Cleanup[] = [backends.close];
  const close = closer(cleanups);
  try {
    const stores = await openStores(backends);
    cleanups.push(stores.close);
    const domain = await buildDomain(backends, stores, options);
    cleanups.push(domain.close);
    if (withJobs) cleanups.push(startJobs(backends, stores, domain).close);
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

/** One CLI command: backends, stores and domain; a short-lived process runs no background jobs. */
export async function buildCommandServices(config: Config, options: BuildOptions = {}): Promise<Services> {
  return assemble(config, options, false);
}
