import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ClientAccounts } from './accounts/clients.js';
import { UserAccounts } from './accounts/users.js';
import { AuditTrail } from './audit/trail.js';
import { buildVersion } from './build_info.js';
import { type Config, isEmbedded, SIGNING_ALGS } from './config.js';
import { connectDatabase } from './db/connect.js';
import { lockEmbeddedDatabase } from './db/embedded_lock.js';
import { migrateLatest, pendingMigrations } from './db/migrate.js';
import { type ReadinessCheck, runCheck } from './endpoints/health.js';
import type { RefreshTokenInspector } from './endpoints/introspect.js';
import { EventBus } from './events.js';
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
import { CachedClientStore } from './stores/cached_clients.js';
import { MemoryDenylist } from './stores/memory/denylist.js';
import { PostgresAuditStore } from './stores/postgres/audit_events.js';
import { PostgresClientStore } from './stores/postgres/clients.js';
import { PostgresRefreshTokenInspector } from './stores/postgres/refresh_token_inspector.js';
import { PostgresRefreshTokenStore } from './stores/postgres/refresh_tokens.js';
import { PostgresRevocationStore } from './stores/postgres/revocations.js';
import { PostgresSigningKeyStore } from './stores/postgres/signing_keys.js';
import { PostgresUserStore } from './stores/postgres/users.js';
import { RedisDenylist } from './stores/redis/denylist.js';
import type {
  ClientStore,
  Denylist,
  RefreshTokenStore,
  RevocationStore,
  SigningKeyStore,
  UserStore,
} from './stores/types.js';
import { AccessTokenMinter, AccessTokenVerifier } from './tokens/access_token.js';
import { DEFAULT_PASSWORD_HASHING, PasswordHasher, type PasswordHashingOptions } from './tokens/passwords.js';

/** Everything the app and the CLI use, built once from the config. */
export interface Services {
  config: Config;
  log: Logger;
  events: EventBus;
  metrics: Metrics;
  db: Knex;
  now: () => number;
  kek: Uint8Array;
  users: UserStore;
  clients: ClientStore;
  signingKeys: SigningKeyStore;
  revocations: RevocationStore;
  denylist: Denylist;
  refreshTokens: RefreshTokenStore;
  sessions: Sessions;
  /** Undefined in embedded mode (no REDIS_URL / REDIS_CLUSTER_NODES). */
  redis: RedisClient | undefined;
  rateLimits: RateLimits;
  refreshInspector: RefreshTokenInspector;
  hasher: PasswordHasher;
  keys: KeyRing;
  minter: AccessTokenMinter;
  verifier: AccessTokenVerifier;
  grants: GrantRegistry;
  /** Rotation, revocation and listing of signing keys (SPEC §6). */
  keyLifecycle: KeyLifecycle;
  /** "Reload your keys": Redis pub/sub in production, in-process in embedded mode. */
  keySignal: KeyChangeSignal;
  userAccounts: UserAccounts;
  audit: AuditTrail;
  clientAccounts: ClientAccounts;
  readiness: ReadinessCheck[];
  /** Migrations this start applied (reported by `tessera migrate`). */
  appliedMigrations: string[];
  /** Stops timers and closes connections; idempotent. */
  close(): Promise<void>;
}

export interface BuildOptions {
  log?: Logger;
  /** Injected clock (ms since epoch); tests freeze or advance it. */
  now?: () => number;
  /** An already-open database (tests); otherwise opened from the config. */
  db?: Knex;
  hashing?: PasswordHashingOptions;
  /** Skip key initialisation (CLI commands that only touch users/clients). */
  withoutKeys?: boolean;
  /**
   * `apply` pending migrations (default in embedded mode, and `tessera migrate`), or `require` none
   * to be pending (default in production, which migrates only through `tessera migrate`).
   */
  migrations?: 'apply' | 'require';
  /** Replaces the key-change signal (tests: a shared in-process one, or one that drops messages). */
  keySignal?: KeyChangeSignal;
}

/** The composition root: chooses storage implementations once and wires every module. */
export async function buildServices(config: Config, options: BuildOptions = {}): Promise<Services> {
  const log = options.log ?? createLogger(config.logLevel);
  const now = options.now ?? Date.now;
  const events = new EventBus();
  const metrics = createMetrics();
  observeEvents(events, log, metrics);

  const cleanups: (() => Promise<void> | void)[] = [];
  let db = options.db;
  if (!db) {
    if (isEmbedded(config)) cleanups.push(lockEmbeddedDatabase(config.dataDir));
    db = connectDatabase({ url: config.databaseUrl, dataDir: config.dataDir, log });
    const owned = db;
    cleanups.push(() => owned.destroy());
  }
  try {
    const migrations = options.migrations ?? (isEmbedded(config) ? 'apply' : 'require');
    const appliedMigrations = migrations === 'apply' ? await migrateLatest(db) : [];
    if (migrations === 'require') {
      // Production never migrates implicitly (SPEC §2): say so plainly instead of failing on a table.
      const pending = await pendingMigrations(db);
      if (pending.length > 0) {
        throw new Error(
          `the database has ${pending.length} pending migration(s): run \`tessera migrate\` first`,
        );
      }
    }
    const { kek } = resolveKek(config);

    const users = new PostgresUserStore(db);
    const clients = new CachedClientStore(new PostgresClientStore(db), now);
    const signingKeys = new PostgresSigningKeyStore(db);
    const revocations = new PostgresRevocationStore(db);
    const auditStore = new PostgresAuditStore(db);
    const audit = new AuditTrail({ store: auditStore, now });
    const redis = connectRedis(config);
    if (redis) {
      // Errors surface through commands (and the fallbacks); an unhandled 'error' event would crash.
      redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
      cleanups.push(() => closeRedis(redis));
    }
    const denylist: Denylist & { load(): Promise<void> } = redis
      ? new RedisDenylist({ redis, durable: revocations, prefix: config.redisKeyPrefix, events, now })
      : new MemoryDenylist(revocations, now);
    await denylist.load();
    if (redis) void warnIfRedisMayEvict(redis, log);
    cleanups.push(() => denylist.close?.());
    const rateLimits = new RateLimits({
      redis,
      prefix: config.redisKeyPrefix,
      limits: config.rateLimits,
      events,
    });
    const refreshInspector = new PostgresRefreshTokenInspector(db);

    const hasher = new PasswordHasher(options.hashing ?? DEFAULT_PASSWORD_HASHING);
    const keys = new KeyRing({ store: signingKeys, kek, signingAlg: config.signingAlg, now });
    if (!options.withoutKeys) await keys.initialise();
    const minter = new AccessTokenMinter(keys, config.issuer, now);
    const verifier = new AccessTokenVerifier(keys, config.issuer, denylist, now, (id) =>
      clients.isActive(id),
    );

    const refreshTokens = new PostgresRefreshTokenStore(db);
    const sessions = new Sessions({ refreshTokens, denylist, events, settings: config, now });
    cleanups.push(
      schedulePurge({
        refreshTokens,
        revocations,
        audit: auditStore,
        auditRetention: config.auditRetention,
        now,
        log,
      }),
    );

    // --- Signing-key lifecycle and propagation (issue 5) -------------------------------------
    // Publishes on the shared Redis connection; the signal adds the one dedicated subscriber
    // connection pub/sub needs. Commands that load no keys (most of the CLI) subscribe to nothing.
    let keySignal = options.keySignal;
    if (!keySignal) {
      if (redis && !options.withoutKeys) {
        keySignal = new RedisKeyChangeSignal(redis, `${config.redisKeyPrefix}keys`, (err) =>
          events.emit('dependency.degraded', { dependency: 'redis', err }),
        );
      } else keySignal = new LocalKeyChangeSignal();
    }
    const signal = keySignal;
    cleanups.push(() => signal.close());
    const keyLifecycle = new KeyLifecycle({
      store: signingKeys,
      keys,
      kek,
      signal,
      events,
      now,
      settings: {
        signingAlg: config.signingAlg,
        jwksMaxAge: config.jwksMaxAge,
        keyReloadInterval: config.keyReloadInterval,
        accessTokenTtl: config.accessTokenTtl,
      },
      maxClientAccessTokenTtl: async () =>
        Math.max(0, ...(await clients.list()).map((c) => c.accessTokenTtl ?? 0)),
    });
    if (!options.withoutKeys) {
      cleanups.push(
        watchKeyChanges({ keys, signal, events, reloadInterval: config.keyReloadInterval }),
        scheduleRotation({ lifecycle: keyLifecycle, events, interval: config.keyRotationInterval }),
      );
    }
    // --- end of signing-key block ---------------------------------------------------------------

    const grants = grantRegistry([
      passwordGrant({
        users,
        hasher,
        minter,
        events,
        accessTokenTtl: config.accessTokenTtl,
        throttle: rateLimits,
        sessions,
        audit,
      }),
      refreshTokenGrant({ sessions, users, minter, events, accessTokenTtl: config.accessTokenTtl }),
      clientCredentialsGrant({ minter, events, accessTokenTtl: config.accessTokenTtl }),
    ]);
    const userAccounts = new UserAccounts({
      users,
      hasher,
      now,
      audit,
      endSessions: async (userId, reason, stamp) => {
        await sessions.endUserSessions(userId, reason, stamp);
      },
    });
    const clientAccounts = new ClientAccounts({
      clients,
      issuer: config.issuer,
      now,
      audit,
      endSessions: async (clientId, reason, stamp) => {
        await sessions.endClientSessions(clientId, reason, stamp);
      },
    });

    const database = db;
    const readiness: ReadinessCheck[] = [
      {
        name: 'database',
        critical: true,
        run: async () => {
          await database.raw('select 1');
          return 'ok';
        },
      },
      {
        name: 'redis',
        // Not critical: without Redis the denylist reads Postgres and rate limits use memory (SPEC §7).
        critical: false,
        run: async () =>
          denylist instanceof RedisDenylist ? ((await denylist.ping()) ? 'ok' : 'down') : 'embedded',
      },
    ];

    const [databaseCheck, redisCheck] = readiness;
    metrics.watch({
      activeKeyActivatedAt: () => (options.withoutKeys ? undefined : activeKeyActivatedAt(keys)),
      now,
      database: async () => databaseCheck !== undefined && (await runCheck(databaseCheck)) === 'ok',
      redis: redis && redisCheck ? async () => (await runCheck(redisCheck)) === 'ok' : undefined,
      version: buildVersion(),
    });

    let closed = false;
    log.info(
      {
        database: config.databaseUrl ? 'postgres' : 'pglite',
        state: config.redisClusterNodes?.length ? 'redis-cluster' : redis ? 'redis' : 'in-process',
        signingAlg: config.signingAlg,
      },
      'backends selected',
    );
    return {
      config,
      log,
      events,
      metrics,
      db,
      now,
      kek,
      users,
      clients,
      signingKeys,
      revocations,
      denylist,
      refreshTokens,
      sessions,
      redis,
      rateLimits,
      refreshInspector,
      hasher,
      keys,
      minter,
      verifier,
      grants,
      keyLifecycle,
      keySignal: signal,
      userAccounts,
      clientAccounts,
      audit,
      readiness,
      appliedMigrations,
      async close() {
        if (closed) return;
        closed = true;
        for (const c of cleanups.reverse()) await c();
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await c();
    throw err;
  }
}

/** Algorithms this build can sign with, advertised in metadata. */
export const SUPPORTED_SIGNING_ALGS = SIGNING_ALGS;

/** When the key signing now was activated (the age an operator alerts on, docs/monitoring.md). */
function activeKeyActivatedAt(keys: KeyRing): Date | undefined {
  const { signer, records } = keys.current();
  return records.find((r) => r.kid === signer.kid)?.activatedAt ?? undefined;
}
