import { randomBytes } from 'node:crypto';
import path from 'node:path';
import test from 'ava';
import { ConfigError, loadConfig, parseDuration } from '../src/config.js';
import { INSTALL_ROOT } from '../src/install_root.js';
import { refusedStart } from './helpers/app.js';

// A fixed random-looking key: the config refuses patterned ones.
const KEK = 'sHwq0bKc3n8yJ6fZ1TdR2aXvU9pLgE4iNoQ7mVtCk5A';

test('durations accept seconds and units', (t) => {
  t.is(parseDuration('900'), 900);
  t.is(parseDuration('15m'), 900);
  t.is(parseDuration('12h'), 43200);
  t.is(parseDuration('7d'), 604800);
  t.is(parseDuration('30s'), 30);
  t.is(parseDuration('1w'), undefined);
  t.is(parseDuration('-5'), undefined);
  t.is(parseDuration('abc'), undefined);
});

test('defaults match docs/configuration.md', (t) => {
  const c = loadConfig({});
  t.is(c.port, 8080);
  t.is(c.host, '127.0.0.1');
  t.is(c.issuer, 'http://localhost:8080');
  t.is(c.databaseUrl, undefined);
  // Relative to the install folder, not the current directory (the CLI finds the server's database).
  t.is(c.dataDir, path.join(INSTALL_ROOT, 'data'));
  t.is(loadConfig({ DATA_DIR: 'elsewhere/db' }).dataDir, path.join(INSTALL_ROOT, 'elsewhere', 'db'));
  t.is(loadConfig({ DATA_DIR: '/var/lib/tessera' }).dataDir, '/var/lib/tessera');
  t.is(c.signingAlg, 'ES256');
  t.is(c.accessTokenTtl, 900);
  t.is(c.refreshTokenIdleTtl, 7 * 86400);
  t.is(c.refreshTokenMaxAge, 30 * 86400);
  t.is(c.refreshReuseLeeway, 0);
  t.is(c.maxSessionsPerUser, 5);
  t.is(c.keyRotationInterval, 0);
  t.is(c.jwksMaxAge, 300);
  t.false(c.trustProxy);
  t.is(c.opsPort, undefined);
  t.is(c.keepAliveTimeout, 65);
  t.is(c.logLevel, 'info');
  t.is(c.rateLimits.ipv6Prefix, 64);
  t.is(loadConfig({ RATE_LIMIT_IPV6_PREFIX: '128' }).rateLimits.ipv6Prefix, 128);
});

test('ISSUER defaults from PORT and is kept exactly', (t) => {
  t.is(loadConfig({ PORT: '9000' }).issuer, 'http://localhost:9000');
  t.is(loadConfig({ ISSUER: 'https://auth.example.com/tenant' }).issuer, 'https://auth.example.com/tenant');
});

const bad: [Record<string, string>, string][] = [
  [{ PORT: 'eighty' }, 'PORT'],
  [{ PORT: '70000' }, 'PORT'],
  [{ ISSUER: 'not a url' }, 'ISSUER'],
  [{ ISSUER: 'https://a.example/?x=1' }, 'ISSUER'],
  [{ ACCESS_TOKEN_TTL: '15 minutes' }, 'ACCESS_TOKEN_TTL'],
  [{ ACCESS_TOKEN_TTL: '0' }, 'ACCESS_TOKEN_TTL'],
  [{ SIGNING_ALG: 'HS256' }, 'SIGNING_ALG'],
  [{ SIGNING_ALG: 'none' }, 'SIGNING_ALG'],
  [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
  [{ DATABASE_URL: 'postgres://localhost/db' }, 'KEY_ENCRYPTION_KEY'],
  [{ KEY_ENCRYPTION_KEY: 'short' }, 'KEY_ENCRYPTION_KEY'],
  [{ KEY_ENCRYPTION_KEY_FILE: '/nonexistent/kek' }, 'KEY_ENCRYPTION_KEY_FILE'],
  [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
  [{ REDIS_CLUSTER_NODES: 'a:1,b' }, 'REDIS_CLUSTER_NODES'],
  [{ TRUST_PROXY: 'maybe' }, 'TRUST_PROXY'],
  // "true" trusted the client's own leftmost X-Forwarded-For entry.
  [{ TRUST_PROXY: 'true' }, 'TRUST_PROXY'],
  [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY'],
  [{ TRUST_PROXY: '10.0.0.1, lb.internal' }, 'TRUST_PROXY'],
  [{ TRUST_PROXY: '99' }, 'TRUST_PROXY'],
  // Contradictions and unbounded values.
  [{ RATE_LIMIT_LOGIN_LOCKOUT: '2h', RATE_LIMIT_LOGIN_LOCKOUT_MAX: '1h' }, 'RATE_LIMIT_LOGIN_LOCKOUT'],
  [{ RATE_LIMIT_IPV6_PREFIX: '0' }, 'RATE_LIMIT_IPV6_PREFIX'],
  [{ RATE_LIMIT_IPV6_PREFIX: '129' }, 'RATE_LIMIT_IPV6_PREFIX'],
  [{ RATE_LIMIT_IPV6_PREFIX: '/64' }, 'RATE_LIMIT_IPV6_PREFIX'],
  [{ KEY_ROTATION_INTERVAL: '60', JWKS_MAX_AGE: '300' }, 'KEY_ROTATION_INTERVAL'],
  [{ KEY_ROTATION_INTERVAL: '300', JWKS_MAX_AGE: '300' }, 'KEY_ROTATION_INTERVAL'],
  [{ REFRESH_REUSE_LEEWAY: '1d' }, 'REFRESH_REUSE_LEEWAY'],
  [
    { REFRESH_REUSE_LEEWAY: '60', REFRESH_TOKEN_IDLE_TTL: '60', REFRESH_TOKEN_MAX_AGE: '60' },
    'REFRESH_REUSE_LEEWAY',
  ],
  [{ ACCESS_TOKEN_TTL: '99999999999999999999' }, 'ACCESS_TOKEN_TTL'],
  [{ ACCESS_TOKEN_TTL: '2d' }, 'ACCESS_TOKEN_TTL'],
  [{ REFRESH_TOKEN_MAX_AGE: '400d' }, 'REFRESH_TOKEN_MAX_AGE'],
  [{ JWKS_MAX_AGE: '30d' }, 'JWKS_MAX_AGE'],
  [{ OPS_PORT: '8080' }, 'OPS_PORT'],
  [{ OPS_PORT: 'ops' }, 'OPS_PORT'],
  // Typed, not generated: all zeros, a repeated byte, a passphrase in base64url.
  [{ KEY_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64url') }, 'KEY_ENCRYPTION_KEY'],
  [{ KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64url') }, 'KEY_ENCRYPTION_KEY'],
  [
    { KEY_ENCRYPTION_KEY: Buffer.from('correct horse battery staple 123').toString('base64url') },
    'KEY_ENCRYPTION_KEY',
  ],
  [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  [{ MAX_SESSIONS_PER_USER: '0' }, 'MAX_SESSIONS_PER_USER'],
  [{ REFRESH_TOKEN_IDLE_TTL: '60d' }, 'REFRESH_TOKEN_IDLE_TTL'],
];

for (const [env, key] of bad) {
  test(`invalid ${Object.keys(env).join(',')}=${Object.values(env).join(',')} names ${key}`, (t) => {
    const err = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.is(err?.key, key);
    t.false(err?.message.includes('\n'), 'one line');
  });
}

test('production settings are accepted', (t) => {
  const c = loadConfig({
    DATABASE_URL: 'postgres://u:p@db:5432/tessera',
    REDIS_URL: 'rediss://:secret@cache:6380',
    KEY_ENCRYPTION_KEY: KEK,
    SIGNING_ALG: 'EdDSA',
    REFRESH_REUSE_LEEWAY: '10s',
    TRUST_PROXY: '1',
    OPS_PORT: '9090',
    KEY_ROTATION_INTERVAL: '30d',
  });
  t.is(c.keyEncryptionKey?.length, 32);
  t.is(c.signingAlg, 'EdDSA');
  t.is(c.refreshReuseLeeway, 10);
  t.deepEqual(c.trustProxy, { hops: 1 });
  t.is(c.opsPort, 9090);
  t.is(c.keyRotationInterval, 30 * 86400);
  t.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.0.2.1,loopback' }).trustProxy, {
    proxies: ['10.0.0.0/8', '192.0.2.1', 'loopback'],
  });
  t.false(loadConfig({ TRUST_PROXY: '0' }).trustProxy);
});

test('LOG_LEVEL is case-insensitive', (t) => {
  t.is(loadConfig({ LOG_LEVEL: 'DEBUG' }).logLevel, 'debug');
  t.is(loadConfig({ LOG_LEVEL: ' Warn ' }).logLevel, 'warn');
});

test('a random KEK is never mistaken for a typed one', (t) => {
  for (let i = 0; i < 2000; i++) {
    const key = randomBytes(32).toString('base64url');
    t.is(loadConfig({ KEY_ENCRYPTION_KEY: key }).keyEncryptionKey?.length, 32);
  }
});

test('the server exits at start with one line naming a bad setting', async (t) => {
  await refusedStart(
    t,
    { DATABASE_URL: 'postgres://127.0.0.1:1/x', KEY_ENCRYPTION_KEY: '', ACCESS_TOKEN_TTL: 'soon' },
    /ACCESS_TOKEN_TTL|KEY_ENCRYPTION_KEY/,
  );
});

test('AUDIT_RETENTION: 90 days by default, a duration of at least one day', (t) => {
  t.is(loadConfig({}).auditRetention, 90 * 86400);
  t.is(loadConfig({ AUDIT_RETENTION: '365d' }).auditRetention, 365 * 86400);
  for (const bad of ['12h', 'forever']) {
    const err = t.throws(() => loadConfig({ AUDIT_RETENTION: bad }), { instanceOf: ConfigError });
    t.is(err?.key, 'AUDIT_RETENTION');
  }
});

test('LOGIN_SESSION_TTL defaults to 8 h and AUTHORIZATION_CODE_TTL to 60 s', (t) => {
  const c = loadConfig({});
  t.is(c.loginSessionTtl, 8 * 3600);
  t.is(c.authorizationCodeTtl, 60);
  t.is(loadConfig({ LOGIN_SESSION_TTL: '30m', AUTHORIZATION_CODE_TTL: '2m' }).authorizationCodeTtl, 120);
});

test('an authorization code may not outlive 10 minutes (RFC 6749 §4.1.2); bad values name the key', (t) => {
  t.throws(() => loadConfig({ AUTHORIZATION_CODE_TTL: '11m' }), { message: /^AUTHORIZATION_CODE_TTL: / });
  t.throws(() => loadConfig({ AUTHORIZATION_CODE_TTL: 'soon' }), { message: /^AUTHORIZATION_CODE_TTL: / });
  t.throws(() => loadConfig({ LOGIN_SESSION_TTL: '10' }), {
    message: /^LOGIN_SESSION_TTL: must be at least 60s/,
  });
});
