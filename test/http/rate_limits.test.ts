import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { TEST_REDIS_PREFIX, type TestClock, type TestServer, testClock, useServer } from '../helpers/app.js';
import { createTestDatabase, mode } from '../helpers/database.js';
import {
  assertOAuthError,
  basic,
  clientCredentials,
  createClient,
  createUser,
  passwordLogin,
  postForm,
  type TestClient,
} from '../helpers/oauth.js';

const needsRedis = process.env.REDIS_URL ? test : test.skip;

/** Every test its own key namespace under the file's prefix: they all log in from 127.0.0.1. */
const ownPrefix = () => `${TEST_REDIS_PREFIX}${randomBytes(4).toString('hex')}:`;

/**
 * The clock lockouts are decided by: a fake one, started on a whole second (lock ends are stored
 * in whole seconds), so lockouts and their doubling are tested without waiting.
 */
const lockoutClock = () => testClock(Math.ceil(Date.now() / 1000) * 1000);

async function setup(
  t: ExecutionContext,
  env: Record<string, string>,
  prefix = ownPrefix(),
  clock: TestClock = lockoutClock(),
) {
  // On Postgres alone the counters live in the database's rate_limits table, keyed without the
  // Redis prefix: every test gets a database of its own there, as every test gets a prefix on Redis.
  const database = mode.postgres && !mode.redis ? await createTestDatabase() : undefined;
  if (database) t.teardown(() => database.drop());
  const s = await useServer(t, { env: { REDIS_KEY_PREFIX: prefix, ...env }, now: clock.now, database });
  const app = await createClient(s, { name: 'app', grantTypes: ['password', 'client_credentials'] });
  return { s, app, prefix, clock };
}

/** Counts argon2 verifications, to prove a locked pair costs no hashing. */
function countHashing(s: TestServer) {
  const hasher = s.services.hasher;
  const verify = hasher.verify.bind(hasher);
  const counter = { calls: 0 };
  hasher.verify = async (hash, password) => {
    counter.calls++;
    return verify(hash, password);
  };
  return counter;
}

function assertRateLimited(
  t: ExecutionContext,
  res: { status: number; headers: Headers; body: Record<string, unknown> },
  limit: number,
  retryAfter?: number,
) {
  assertOAuthError(t, res, 429, 'rate_limited');
  const after = Number(res.headers.get('retry-after'));
  t.true(after >= 1, `Retry-After ${after}`);
  if (retryAfter !== undefined) t.is(after, retryAfter);
  t.is(res.headers.get('ratelimit-limit'), String(limit));
  t.is(res.headers.get('ratelimit-remaining'), '0');
  t.is(res.headers.get('ratelimit-reset'), String(after));
  t.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
}

test('brute force on one username+IP: locked after N failures, without hashing; other users unaffected', async (t) => {
  const { s, app } = await setup(t, { RATE_LIMIT_LOGIN_FAILURES: '3' });
  const victim = await createUser(s, 'victim');
  const other = await createUser(s, 'other');
  for (let i = 0; i < 3; i++) {
    assertOAuthError(t, await passwordLogin(s, app, victim.username, 'wrong password'), 400, 'invalid_grant');
  }
  const hashing = countHashing(s);
  // Locked: even the right password is refused, with no argon2 work.
  assertRateLimited(t, await passwordLogin(s, app, victim.username, victim.password), 3, 60);
  assertRateLimited(t, await passwordLogin(s, app, victim.username, 'wrong again'), 3);
  t.is(hashing.calls, 0);
  t.is((await passwordLogin(s, app, other.username, other.password)).status, 200);
  // client_credentials of the same client is not a login and is not throttled.
  const cc = await clientCredentials(s, app);
  t.is(cc.status, 200);
});

test('lockout doubles on every further failure up to the maximum; a success resets the pair', async (t) => {
  const { s, app, clock } = await setup(t, {
    RATE_LIMIT_LOGIN_FAILURES: '2',
    RATE_LIMIT_LOGIN_LOCKOUT: '10',
    RATE_LIMIT_LOGIN_LOCKOUT_MAX: '25',
  });
  const u = await createUser(s, 'backoff');
  const fail = () => passwordLogin(s, app, u.username, 'wrong password');
  t.is((await fail()).status, 400);
  t.is((await fail()).status, 400);
  assertRateLimited(t, await fail(), 2, 10);
  clock.advance(9);
  assertRateLimited(t, await fail(), 2, 1);
  clock.advance(1);
  t.is((await fail()).status, 400, 'lock over: the attempt is checked');
  assertRateLimited(t, await fail(), 2, 20);
  clock.advance(20);
  t.is((await fail()).status, 400);
  assertRateLimited(t, await fail(), 2, 25);
  clock.advance(25);
  t.is((await passwordLogin(s, app, u.username, u.password)).status, 200, 'success');
  t.is((await fail()).status, 400, 'streak reset');
  t.is((await passwordLogin(s, app, u.username, u.password)).status, 200);
});

test("N7: a disabled user's right password counts as a failure: the throttle does not tell it apart", async (t) => {
  const { s, app } = await setup(t, { RATE_LIMIT_LOGIN_FAILURES: '3' });
  const u = await createUser(s, 'disabled');
  await s.services.userAccounts.disable(u.username);
  for (let i = 0; i < 2; i++) {
    assertOAuthError(t, await passwordLogin(s, app, u.username, `wrong ${i}`), 400, 'invalid_grant');
  }
  assertOAuthError(t, await passwordLogin(s, app, u.username, u.password), 400, 'invalid_grant');
  // Had the right password reset the streak, this would be a checked (400) guess.
  assertRateLimited(t, await passwordLogin(s, app, u.username, 'wrong again'), 3, 60);
});

test('per-IP failed logins: many usernames from one IP hit the hourly limit', async (t) => {
  const { s, app } = await setup(t, {
    RATE_LIMIT_LOGIN_FAILURES: '100',
    RATE_LIMIT_IP_FAILURES_PER_HOUR: '4',
  });
  const u = await createUser(s, 'ip');
  for (let i = 0; i < 4; i++) {
    t.is((await passwordLogin(s, app, `nobody${i}`, 'wrong password')).status, 400);
  }
  assertRateLimited(t, await passwordLogin(s, app, u.username, u.password), 4);
});

test('per-client limits on /token and /introspect; other clients unaffected', async (t) => {
  const { s, app } = await setup(t, { RATE_LIMIT_CLIENT_PER_MINUTE: '3' });
  const other = await createClient(s, { name: 'other', grantTypes: ['client_credentials'] });
  const rs = await createClient(s, { name: 'rs', grantTypes: ['client_credentials'], canIntrospect: true });
  const cc = (c: TestClient) => clientCredentials(s, c);
  for (let i = 0; i < 3; i++) {
    const ok = await cc(app);
    t.is(ok.status, 200);
    // Every answer carries the client's remaining budget, not only the 429.
    t.is(ok.headers.get('ratelimit-limit'), '3');
    t.is(ok.headers.get('ratelimit-remaining'), String(2 - i));
    t.true(Number(ok.headers.get('ratelimit-reset')) >= 1);
  }
  assertRateLimited(t, await cc(app), 3);
  t.is((await cc(other)).status, 200);
  const introspect = () =>
    postForm(
      `${s.url}/introspect`,
      { token: 'x' },
      { authorization: basic(rs.client_id, rs.client_secret ?? '') },
    );
  for (let i = 0; i < 3; i++) t.deepEqual((await introspect()).body, { active: false });
  assertRateLimited(t, await introspect(), 3);
  // Unauthenticated callers cannot spend a client's budget.
  assertOAuthError(
    t,
    await cc({ client_id: other.client_id, client_secret: 'wrong' }),
    401,
    'invalid_client',
  );
});

needsRedis('limits are shared by two instances on one Redis [needs REDIS_URL]', async (t) => {
  const a = await setup(t, { RATE_LIMIT_LOGIN_FAILURES: '3', RATE_LIMIT_CLIENT_PER_MINUTE: '5' });
  const b = await useServer(t, {
    database: a.s.database,
    env: { REDIS_KEY_PREFIX: a.prefix, RATE_LIMIT_LOGIN_FAILURES: '3', RATE_LIMIT_CLIENT_PER_MINUTE: '5' },
    now: a.clock.now,
  });
  const u = await createUser(a.s, 'shared');
  const other = await createUser(a.s, 'unaffected');
  t.is((await passwordLogin(a.s, a.app, u.username, 'wrong password')).status, 400);
  t.is((await passwordLogin(b, a.app, u.username, 'wrong password')).status, 400);
  t.is((await passwordLogin(a.s, a.app, u.username, 'wrong password')).status, 400);
  assertRateLimited(t, await passwordLogin(b, a.app, u.username, u.password), 3, 60);
  assertRateLimited(t, await passwordLogin(a.s, a.app, u.username, u.password), 3);
  // The client has used 5 requests in total across both instances: its per-client budget is spent.
  assertRateLimited(t, await passwordLogin(b, a.app, other.username, other.password), 5);
});

test('a parallel burst of guesses cannot outrun the failure count', async (t) => {
  const { s, app } = await setup(t, { RATE_LIMIT_LOGIN_FAILURES: '5' });
  const victim = await createUser(s, 'burst');
  const hashing = countHashing(s);
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) => passwordLogin(s, app, victim.username, `guess-${i}`)),
  );
  const guessed = answers.filter((r) => r.status === 400).length;
  const limited = answers.filter((r) => r.status === 429);
  t.is(guessed + limited.length, 40, 'every answer is invalid_grant or 429');
  // Attempts are counted before hashing, so no more than the limit get a hash.
  t.true(guessed >= 1 && guessed <= 5, `${guessed} guesses were verified`);
  t.true(hashing.calls <= 5, `${hashing.calls} argon2 verifications`);
  for (const r of limited) assertRateLimited(t, r, 5);
  // Another user is unaffected throughout.
  const other = await createUser(s, 'calm');
  t.is((await passwordLogin(s, app, other.username, other.password)).status, 200);
});

test('many usernames from one IP in parallel: the per-IP limit is counted before hashing', async (t) => {
  const { s, app } = await setup(t, { RATE_LIMIT_IP_FAILURES_PER_HOUR: '5' });
  const hashing = countHashing(s);
  const answers = await Promise.all(
    Array.from({ length: 30 }, (_, i) => passwordLogin(s, app, `spray${i}`, 'wrong password')),
  );
  t.is(answers.filter((r) => r.status === 400).length, 5);
  for (const r of answers.filter((r) => r.status !== 400)) assertRateLimited(t, r, 5);
  t.is(hashing.calls, 5, 'only the attempts within the limit were hashed');
});

test('correct logins of one user run in parallel; a success gives its points back', async (t) => {
  const { s, app } = await setup(t, {
    RATE_LIMIT_IP_FAILURES_PER_HOUR: '10',
    RATE_LIMIT_LOGIN_FAILURES: '10',
  });
  const u = await createUser(s, 'parallel');
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => passwordLogin(s, app, u.username, u.password)),
  );
  t.deepEqual(
    answers.map((r) => r.status),
    Array(8).fill(200),
  );
  // Eight successes spent none of the IP's ten failures.
  for (let i = 0; i < 10; i++)
    t.is((await passwordLogin(s, app, `nobody${i}`, 'wrong password')).status, 400);
  assertRateLimited(t, await passwordLogin(s, app, u.username, u.password), 10);
});

test("anonymous requests naming a public client do not spend its users' budget", async (t) => {
  const { s } = await setup(t, { RATE_LIMIT_CLIENT_PER_MINUTE: '5', TRUST_PROXY: '1' });
  const spa = await createClient(s, { name: 'spa', grantTypes: ['password'], isPublic: true });
  const u = await createUser(s, 'spa');
  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  for (let i = 0; i < 10; i++) {
    await postForm(`${s.url}/token`, { client_id: spa.client_id, grant_type: 'bogus' }, from('203.0.113.7'));
  }
  assertRateLimited(
    t,
    await postForm(`${s.url}/token`, { client_id: spa.client_id, grant_type: 'bogus' }, from('203.0.113.7')),
    5,
  );
  const login = await postForm(
    `${s.url}/token`,
    { client_id: spa.client_id, grant_type: 'password', username: u.username, password: u.password },
    from('198.51.100.9'),
  );
  t.is(login.status, 200);
});
