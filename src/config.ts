import { readFileSync } from 'node:fs';
import proxyaddr from 'proxy-addr';
import { fromInstallRoot } from './install_root.js';

/** Signing algorithms Tessera can create keys for (RFC 7518 / RFC 8037). */
export const SIGNING_ALGS = ['ES256', 'EdDSA', 'RS256', 'PS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Rate-limit settings; docs/redis.md ("Rate limits and why these defaults") explains the defaults. */
export interface RateLimitConfig {
  /** Consecutive failed logins for one username+IP pair before it is locked. */
  loginFailuresPerUserIp: number;
  /** First lockout; it doubles on every further failure up to `loginLockoutMax`. */
  loginLockoutBase: number;
  loginLockoutMax: number;
  /** Failed logins per IP per hour: high enough that one NAT'd office is not locked out by one user. */
  loginFailuresPerIpHour: number;
  /** Requests per client per minute on /token and /introspect. */
  clientRequestsPerMinute: number;
  /** IPv6 clients are counted per prefix of this many bits: one host usually holds a whole /64. */
  ipv6Prefix: number;
}

/** The whole runtime configuration, validated once at start. Durations are in seconds. */
export interface Config {
  port: number;
  host: string;
  /** `iss` of every token and the RFC 8414 `issuer`, compared exactly by clients. */
  issuer: string;
  /** Unset → embedded PGlite under `dataDir`. */
  databaseUrl: string | undefined;
  /**
   * Postgres-only mode: where the LISTEN connection goes. A transaction-mode pooler cannot hold a
   * listening session, so this may name the server directly (docs/scaling.md, "Poolers").
   */
  databaseListenUrl: string | undefined;
  /** Postgres connections per process (each `WORKERS` process has its own pool). */
  databasePoolMax: number;
  /** Processes sharing the port through node:cluster (production modes; embedded runs one). */
  workers: number;
  /** Absolute; a relative DATA_DIR is taken from the install folder (src/install_root.ts). */
  dataDir: string;
  /** Embedded mode keeps its generated KEK here (docs/configuration.md); absolute like `dataDir`. */
  keysDir: string;
  redisUrl: string | undefined;
  redisClusterNodes: string[] | undefined;
  /** REDIS_PASSWORD: the AUTH password of every node (the cluster's only way; never logged). */
  redisPassword: string | undefined;
  /** Prefix of every Redis key, so several deployments can share one Redis. */
  redisKeyPrefix: string;
  /** 32 bytes; undefined in embedded mode until generated into keys/. */
  keyEncryptionKey: Uint8Array | undefined;
  /** Previous KEK, only read by `tessera keys rewrap`. */
  keyEncryptionKeyPrevious: Uint8Array | undefined;
  signingAlg: SigningAlg;
  accessTokenTtl: number;
  refreshTokenIdleTtl: number;
  refreshTokenMaxAge: number;
  refreshReuseLeeway: number;
  maxSessionsPerUser: number;
  keyRotationInterval: number;
  /** Audit events older than this are purged by the hourly purge job (docs/audit.md). */
  auditRetention: number;
  jwksMaxAge: number;
  /** How often every instance re-reads the key table even without a signal. */
  keyReloadInterval: number;
  /** SHUTDOWN_DELAY: seconds /readyz answers 503 after SIGTERM while new requests are still served. */
  shutdownDelay: number;
  /** SHUTDOWN_TIMEOUT: seconds in-flight requests get to finish before a forced (non-zero) exit. */
  shutdownTimeout: number;
  /**
   * KEEP_ALIVE_TIMEOUT: seconds an idle keep-alive connection stays open. Above the idle timeout of
   * the load balancer or client pool in front (AWS ALB 60 s), so the server never closes a
   * connection just as the other side reuses it ("socket hang up").
   */
  keepAliveTimeout: number;
  /** Which X-Forwarded-For hops to believe; src/http/client_ip.ts explains the resolution. */
  trustProxy: TrustProxy;
  /** When set, /metrics, /healthz and /readyz are served on this port and /metrics leaves PORT. */
  opsPort: number | undefined;
  /** Lifetime of the browser login session cookie of /authorize (docs/browser-apps.md). */
  loginSessionTtl: number;
  /** RFC 6749 §4.1.2 recommends at most 10 minutes; the default 60 s is enough for a redirect. */
  authorizationCodeTtl: number;
  logLevel: LogLevel;
  rateLimits: RateLimitConfig;
  /** DPOP_NONCE: DPoP proofs at /token must carry a server nonce (RFC 9449 §8, docs/dpop.md). */
  dpopNonce: boolean;
  /** Clients no admin created: registration, metadata documents, consent (docs/mcp.md). */
  thirdParty: ThirdPartyConfig;
}

/** Dynamic registration (RFC 7591), Client ID Metadata Documents and consent (docs/mcp.md). */
export interface ThirdPartyConfig {
  /** CLIENT_REGISTRATION: `token` needs an admin token with admin:clients at POST /register. */
  registration: 'off' | 'token' | 'open';
  /** CLIENT_ID_METADATA_DOCUMENTS=on: an https client_id URL is fetched as the client's metadata. */
  metadataDocuments: boolean;
  /** CIMD_ALLOWED_HOSTS: exact host names, `*.example.com` (any subdomain) or `*` (any host). */
  cimdAllowedHosts: string[];
  /** CIMD_ALLOW_LOOPBACK: development and tests only. */
  cimdAllowLoopback: boolean;
  /** THIRD_PARTY_SCOPES: what such a client may ask for; never an admin scope. */
  scopes: string[];
  /** THIRD_PARTY_AUDIENCES: the `resource` values (RFC 8707) such a client may ask for. */
  audiences: string[];
  /** CONSENT_TTL: how long a user's consent is remembered. */
  consentTtl: number;
  /** RATE_LIMIT_REGISTRATIONS_PER_HOUR: registrations per client IP per hour. */
  registrationsPerIpHour: number;
}

/**
 * TRUST_PROXY: `false` (the socket peer is the client), a number of proxy hops in front of
 * Tessera, or the proxies' addresses/CIDRs (and proxy-addr's `loopback`, `linklocal`,
 * `uniquelocal` names). docs/security.md says which to set for common deployments.
 */
export type TrustProxy = false | { hops: number } | { proxies: string[] };

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `900`, `900s`, `15m`, `12h`, `7d` into seconds. */
export function parseDuration(value: string): number | undefined {
  const m = /^(\d+)\s*([smhd]?)$/.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * (UNIT_SECONDS[m[2] || 's'] ?? 1);
}

const DAY = 86_400;

function readDuration(env: Env, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const v = parseDuration(raw);
  if (v === undefined) throw new ConfigError(key, `"${raw}" is not a duration (use 900, 15m, 12h or 7d)`);
  if (v < min) throw new ConfigError(key, `must be at least ${min}s`);
  // An unbounded lifetime is a typo or a token that never dies; either way not something to run with.
  if (v > max) throw new ConfigError(key, `must be at most ${max}s`);
  return v;
}

function readInt(env: Env, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(key, `"${raw}" is not an integer`);
  const v = Number(raw);
  if (v < min || v > max) throw new ConfigError(key, `must be between ${min} and ${max}`);
  return v;
}

function readKek(env: Env, key: string): Uint8Array | undefined {
  let raw = env[key];
  const file = env[`${key}_FILE`];
  if ((raw === undefined || raw === '') && file) {
    try {
      raw = readFileSync(file, 'utf8');
    } catch {
      throw new ConfigError(`${key}_FILE`, `cannot read ${file}`);
    }
  }
  if (raw === undefined || raw.trim() === '') return undefined;
  const bytes = Buffer.from(raw.trim(), 'base64url');
  // A 256-bit key is exactly 43 base64url characters; anything else is a typo, not a key.
  if (bytes.length !== 32) throw new ConfigError(key, 'must be 32 bytes (256 bits) encoded as base64url');
  if (looksNonRandom(bytes))
    throw new ConfigError(
      key,
      'is a pattern or text, not 32 random bytes (generate one: openssl rand 32 | basenc --base64url)',
    );
  return new Uint8Array(bytes);
}

/**
 * Catches the KEKs people type instead of generate: all zeros or another repeated pattern (few
 * distinct bytes), or a passphrase encoded as base64url (only printable ASCII). 32 random bytes
 * have about 30 distinct values and are all printable with probability (95/256)^32 ≈ 2e-14, so a
 * real key is never refused.
 */
export function looksNonRandom(bytes: Uint8Array): boolean {
  const distinct = new Set(bytes).size;
  const printable = bytes.every((b) => b >= 0x20 && b <= 0x7e);
  return distinct < 16 || printable;
}

const TRUST_PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function readTrustProxy(env: Env): TrustProxy {
  const raw = env.TRUST_PROXY?.trim() ?? '';
  const lower = raw.toLowerCase();
  if (['', 'false', '0', 'no', 'off'].includes(lower)) return false;
  if (['true', 'yes', 'on'].includes(lower)) {
    // "Trust every hop" takes the address the client wrote first: the spoofable setting this replaces.
    throw new ConfigError(
      'TRUST_PROXY',
      '"true" would believe addresses the client writes; set the number of proxy hops (e.g. 1) or the proxies\' addresses/CIDRs',
    );
  }
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops > 10) throw new ConfigError('TRUST_PROXY', 'must be at most 10 proxy hops');
    return { hops };
  }
  const proxies = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  try {
    // The same parser the resolution uses: an entry it cannot read is refused here, not at the first request.
    proxyaddr.compile(proxies);
  } catch {
    const bad = proxies.find((p) => {
      try {
        proxyaddr.compile([p]);
        return false;
      } catch {
        return true;
      }
    });
    throw new ConfigError(
      'TRUST_PROXY',
      `"${bad}" is not false, a hop count, an IP address, a CIDR or one of ${TRUST_PROXY_NAMES.join(', ')}`,
    );
  }
  return { proxies };
}

function readUrl(env: Env, key: string, protocols: string[]): string | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(key, 'is not a URL');
  }
  if (!protocols.includes(url.protocol)) throw new ConfigError(key, `must use ${protocols.join(' or ')}`);
  return raw;
}

/** One of `allowed`, compared case-insensitively (LOG_LEVEL=DEBUG is debug). */
function readChoice<T extends string>(env: Env, key: string, allowed: readonly T[], fallback: T): T {
  const raw = (env[key] || fallback).trim();
  const value = (allowed.find((a) => a.toLowerCase() === raw.toLowerCase()) ?? raw) as T;
  if (!allowed.includes(value)) throw new ConfigError(key, `must be one of ${allowed.join(', ')}`);
  return value;
}

function readClusterNodes(env: Env): string[] | undefined {
  if (!env.REDIS_CLUSTER_NODES) return undefined;
  const nodes = env.REDIS_CLUSTER_NODES.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const node of nodes) {
    if (!/^[^:\s]+:\d+$/.test(node.replace(/^rediss?:\/\//, '')))
      throw new ConfigError('REDIS_CLUSTER_NODES', `"${node}" is not host:port`);
  }
  return nodes;
}

/**
 * Token and session lifetimes, bounded: an access token is a bearer credential nobody can recall
 * before its exp (RFC 9700 §2.2 recommends short lifetimes), and a session is not forever.
 */
function readLifetimes(env: Env) {
  const accessTokenTtl = readDuration(env, 'ACCESS_TOKEN_TTL', 900, 1, DAY);
  const refreshTokenIdleTtl = readDuration(env, 'REFRESH_TOKEN_IDLE_TTL', 7 * DAY, 1, 365 * DAY);
  const refreshTokenMaxAge = readDuration(env, 'REFRESH_TOKEN_MAX_AGE', 30 * DAY, 1, 365 * DAY);
  if (refreshTokenIdleTtl > refreshTokenMaxAge)
    throw new ConfigError('REFRESH_TOKEN_IDLE_TTL', 'must not exceed REFRESH_TOKEN_MAX_AGE');
  // The leeway re-accepts a spent token: minutes at most, or reuse detection means nothing.
  const refreshReuseLeeway = readDuration(env, 'REFRESH_REUSE_LEEWAY', 0, 0, 300);
  if (refreshReuseLeeway >= refreshTokenIdleTtl)
    throw new ConfigError('REFRESH_REUSE_LEEWAY', 'must be shorter than REFRESH_TOKEN_IDLE_TTL');
  return { accessTokenTtl, refreshTokenIdleTtl, refreshTokenMaxAge, refreshReuseLeeway };
}

/** docs/keys.md: a next key may sign only after JWKS_MAX_AGE, so rotating faster could never promote it. */
function readKeySchedule(env: Env) {
  const jwksMaxAge = readDuration(env, 'JWKS_MAX_AGE', 300, 0, DAY);
  const keyRotationInterval = readDuration(env, 'KEY_ROTATION_INTERVAL', 0, 0, 365 * DAY);
  if (keyRotationInterval > 0 && keyRotationInterval <= jwksMaxAge)
    throw new ConfigError('KEY_ROTATION_INTERVAL', 'must be longer than JWKS_MAX_AGE (or 0 for off)');
  return { jwksMaxAge, keyRotationInterval };
}

/** RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED." */
function readAuthorizationCodeTtl(env: Env): number {
  const ttl = readDuration(env, 'AUTHORIZATION_CODE_TTL', 60, 1, DAY);
  if (ttl > 600) throw new ConfigError('AUTHORIZATION_CODE_TTL', 'must not exceed 10m (RFC 6749 §4.1.2)');
  return ttl;
}

function readRateLimits(env: Env): RateLimitConfig {
  const limits: RateLimitConfig = {
    loginFailuresPerUserIp: readInt(env, 'RATE_LIMIT_LOGIN_FAILURES', 10, 1, 1_000_000),
    loginLockoutBase: readDuration(env, 'RATE_LIMIT_LOGIN_LOCKOUT', 60, 1, DAY),
    loginLockoutMax: readDuration(env, 'RATE_LIMIT_LOGIN_LOCKOUT_MAX', 3600, 1, 30 * DAY),
    loginFailuresPerIpHour: readInt(env, 'RATE_LIMIT_IP_FAILURES_PER_HOUR', 100, 1, 10_000_000),
    clientRequestsPerMinute: readInt(env, 'RATE_LIMIT_CLIENT_PER_MINUTE', 1200, 1, 100_000_000),
    ipv6Prefix: readInt(env, 'RATE_LIMIT_IPV6_PREFIX', 64, 1, 128),
  };
  if (limits.loginLockoutBase > limits.loginLockoutMax)
    throw new ConfigError('RATE_LIMIT_LOGIN_LOCKOUT', 'must not exceed RATE_LIMIT_LOGIN_LOCKOUT_MAX');
  return limits;
}

/** An on/off setting: true/false, 1/0, yes/no, on/off (case-insensitive); anything else is refused. */
function readFlag(env: Env, key: string, fallback: boolean): boolean {
  const raw = env[key]?.trim().toLowerCase() ?? '';
  if (raw === '') return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(key, 'must be true or false');
}

/** A list separated by spaces or commas. */
const listOf = (raw: string | undefined) => (raw ?? '').split(/[\s,]+/).filter(Boolean);

function readThirdParty(env: Env): ThirdPartyConfig {
  const registration = readChoice(env, 'CLIENT_REGISTRATION', ['off', 'token', 'open'] as const, 'off');
  const metadataDocuments = readChoice(env, 'CLIENT_ID_METADATA_DOCUMENTS', ['off', 'on'] as const, 'off');
  const cimdAllowedHosts = listOf(env.CIMD_ALLOWED_HOSTS ?? '*').map((h) => h.toLowerCase());
  for (const h of cimdAllowedHosts)
    if (!/^(\*|(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?)$/.test(h))
      throw new ConfigError('CIMD_ALLOWED_HOSTS', `"${h}" is not a host name, *.domain or *`);
  const scopes = listOf(env.THIRD_PARTY_SCOPES);
  for (const s of scopes) {
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))
      throw new ConfigError('THIRD_PARTY_SCOPES', `"${s}" is not a scope token (RFC 6749 §3.3)`);
    // docs/admin.md: the admin scopes come only through client_credentials of admin clients.
    if (s === 'admin' || s.startsWith('admin:'))
      throw new ConfigError('THIRD_PARTY_SCOPES', 'must not contain an admin scope');
  }
  const audiences = listOf(env.THIRD_PARTY_AUDIENCES);
  for (const a of audiences)
    if (!URL.canParse(a) || a.includes('#'))
      throw new ConfigError('THIRD_PARTY_AUDIENCES', `"${a}" is not an absolute URI without a fragment`);
  return {
    registration,
    metadataDocuments: metadataDocuments === 'on',
    cimdAllowedHosts,
    cimdAllowLoopback: readChoice(env, 'CIMD_ALLOW_LOOPBACK', ['false', 'true'] as const, 'false') === 'true',
    scopes: [...new Set(scopes)],
    audiences: [...new Set(audiences)],
    consentTtl: readDuration(env, 'CONSENT_TTL', 90 * DAY, 60, 5 * 365 * DAY),
    registrationsPerIpHour: readInt(env, 'RATE_LIMIT_REGISTRATIONS_PER_HOUR', 20, 1, 1_000_000),
  };
}

function readOpsPort(env: Env, port: number): number | undefined {
  if (env.OPS_PORT === undefined || env.OPS_PORT === '') return undefined;
  const opsPort = readInt(env, 'OPS_PORT', 0, 1, 65535);
  if (opsPort === port) throw new ConfigError('OPS_PORT', 'must differ from PORT');
  return opsPort;
}

/**
 * Reads and validates the configuration. Throws ConfigError naming the first bad key; main.ts
 * prints it as one line and exits.
 */
export function loadConfig(env: Env = process.env, options: { requireKek?: boolean } = {}): Config {
  const port = readInt(env, 'PORT', 8080, 0, 65535);
  const host = env.HOST || '127.0.0.1';
  const issuer = readUrl(env, 'ISSUER', ['http:', 'https:']) ?? `http://localhost:${port}`;
  // RFC 8414 §2: the issuer has no query or fragment; clients compare it byte for byte.
  if (/[?#]/.test(issuer)) throw new ConfigError('ISSUER', 'must not contain a query or fragment');

  const databaseUrl = readUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const redisUrl = readUrl(env, 'REDIS_URL', ['redis:', 'rediss:']);
  const redisClusterNodes = readClusterNodes(env);
  const redisPassword = env.REDIS_PASSWORD || undefined;
  // Two passwords would leave which one is sent to the client library's merge order.
  if (redisPassword && redisUrl && new URL(redisUrl).password)
    throw new ConfigError('REDIS_PASSWORD', 'is set and REDIS_URL has a password too: keep one');
  const keyEncryptionKey = readKek(env, 'KEY_ENCRYPTION_KEY');
  // Production (a real database) must be told its KEK: generating one would make every other
  // replica unable to read the keys this one writes. CLI commands that touch no private key
  // load the configuration without it (docs/upgrades.md).
  if (databaseUrl && !keyEncryptionKey && options.requireKek !== false)
    throw new ConfigError(
      'KEY_ENCRYPTION_KEY',
      'is required when DATABASE_URL is set (or KEY_ENCRYPTION_KEY_FILE)',
    );

  const signingAlg = readChoice(env, 'SIGNING_ALG', SIGNING_ALGS, 'ES256');
  const logLevel = readChoice(env, 'LOG_LEVEL', LOG_LEVELS, 'info');

  return {
    port,
    host,
    issuer,
    databaseUrl,
    databaseListenUrl: readUrl(env, 'DATABASE_LISTEN_URL', ['postgres:', 'postgresql:']) ?? databaseUrl,
    databasePoolMax: readInt(env, 'DATABASE_POOL_MAX', 10, 1, 1000),
    workers: readInt(env, 'WORKERS', 1, 1, 64),
    dataDir: fromInstallRoot(env.DATA_DIR || 'data'),
    keysDir: fromInstallRoot(env.KEYS_DIR || 'keys'),
    redisUrl,
    redisClusterNodes,
    redisPassword,
    redisKeyPrefix: env.REDIS_KEY_PREFIX ?? 'tessera:',
    keyEncryptionKey,
    keyEncryptionKeyPrevious: readKek(env, 'KEY_ENCRYPTION_KEY_PREVIOUS'),
    signingAlg,
    ...readLifetimes(env),
    maxSessionsPerUser: readInt(env, 'MAX_SESSIONS_PER_USER', 5, 1, 1000),
    ...readKeySchedule(env),
    // 90 days: long enough to investigate an incident reported weeks late; at least a day.
    auditRetention: readDuration(env, 'AUDIT_RETENTION', 90 * DAY, DAY, 10 * 365 * DAY),
    keyReloadInterval: readDuration(env, 'KEY_RELOAD_INTERVAL', 30, 1, DAY),
    shutdownDelay: readDuration(env, 'SHUTDOWN_DELAY', 0, 0, 300),
    shutdownTimeout: readDuration(env, 'SHUTDOWN_TIMEOUT', 10, 1, 600),
    keepAliveTimeout: readDuration(env, 'KEEP_ALIVE_TIMEOUT', 65, 1, 3600),
    trustProxy: readTrustProxy(env),
    opsPort: readOpsPort(env, port),
    loginSessionTtl: readDuration(env, 'LOGIN_SESSION_TTL', 8 * 3600, 60, 30 * DAY),
    authorizationCodeTtl: readAuthorizationCodeTtl(env),
    logLevel,
    rateLimits: readRateLimits(env),
    dpopNonce: readFlag(env, 'DPOP_NONCE', false),
    thirdParty: readThirdParty(env),
  };
}

/** True when no DATABASE_URL is configured: PGlite + in-process state, single process. */
export function isEmbedded(config: Config): boolean {
  return config.databaseUrl === undefined;
}

/**
 * Where the shared state lives (docs/scaling.md): in process (embedded), in Redis (single node
 * or Cluster), or in Postgres alone. Logged at start and answered by /readyz.
 */
export type DeploymentMode = 'embedded' | 'redis' | 'redis-cluster' | 'postgres';

export function deploymentMode(config: Config): DeploymentMode {
  if (config.redisClusterNodes && config.redisClusterNodes.length > 0) return 'redis-cluster';
  if (config.redisUrl) return 'redis';
  return isEmbedded(config) ? 'embedded' : 'postgres';
}
