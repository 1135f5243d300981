import { randomBytes } from 'node:crypto';
import test from 'ava';
import { AuditTrail } from '../../src/audit/trail.js';
import type { RateLimitConfig } from '../../src/config.js';
import { UserAccounts } from '../../src/endpoints/admin_users.js';
import { EventBus, type TesseraEvents } from '../../src/events.js';
import { limiterFactory } from '../../src/http/limiter_store.js';
import { RateLimits } from '../../src/http/rate_limits.js';
import { authenticateUser, type CredentialDeps, type SignInAttempt } from '../../src/login/credentials.js';
import { PostgresAuditStore } from '../../src/stores/postgres/audit_events.js';
import { PostgresUserStore } from '../../src/stores/postgres/users.js';
import { HashingQueue } from '../../src/tokens/hashing_queue.js';
import { PasswordHasher } from '../../src/tokens/passwords.js';
import { TEST_HASHING, testClock } from '../helpers/app.js';
import { fileDatabase } from '../helpers/database.js';
import { factsOn } from '../helpers/facts.js';

// The credentials check against the real user and audit stores (PGlite, or Postgres with
// DATABASE_URL), the real hasher and the real throttle on process memory with a fake clock.

const LIMITS: RateLimitConfig = {
  loginFailuresPerUserIp: 3,
  loginLockoutBase: 60,
  loginLockoutMax: 3600,
  loginFailuresPerIpHour: 100,
  clientRequestsPerMinute: 1000,
  ipv6Prefix: 64,
};

const PASSWORD = 'correct horse battery';

async function setup(options: { limits?: Partial<RateLimitConfig>; queue?: HashingQueue } = {}) {
  const { db } = await fileDatabase();
  // A whole second, so lock ends (stored in whole seconds) give exact Retry-After values.
  const clock = testClock(Math.ceil(Date.now() / 1000) * 1000);
  const events = new EventBus();
  const users = new PostgresUserStore(db);
  const audit = new AuditTrail({ store: new PostgresAuditStore(db), now: clock.now });
  const { facts } = factsOn(db, events, clock.now);
  const hasher = new PasswordHasher(TEST_HASHING, options.queue ?? new HashingQueue());
  const throttle = new RateLimits({
    limiter: limiterFactory({ kind: 'memory' }),
    limits: { ...LIMITS, ...options.limits },
    events,
    now: clock.now,
  });
  const hashes = { count: 0 };
  const counting: CredentialDeps['hasher'] = {
    verify: (hash, password) => {
      hashes.count++;
      return hasher.verify(hash, password);
    },
    verifyUnknownUser: (password) => {
      hashes.count++;
      return hasher.verifyUnknownUser(password);
    },
  };
  const deps: CredentialDeps = { users, hasher: counting, throttle, facts };
  const accounts = new UserAccounts({ users, hasher, now: clock.now, facts });
  const user = await accounts.create(`u${randomBytes(4).toString('hex')}`, PASSWORD);
  const seen: Array<{ name: keyof TesseraEvents; payload: unknown }> = [];
  for (const name of ['login.succeeded', 'login.failed', 'login.locked'] as const) {
    events.on(name, (payload: unknown) => seen.push({ name, payload }));
  }
  const attempt = (password: string, over: Partial<SignInAttempt> = {}): SignInAttempt => ({
    clientId: 'c_app',
    username: user.username,
    password,
    ip: '192.0.2.10',
    stamp: { actor: 'c_app', ip: '192.0.2.10', requestId: `r-${randomBytes(3).toString('hex')}` },
    method: 'password',
    ...over,
  });
  const opened: string[] = [];
  const open = async (u: { id: string }) => {
    opened.push(u.id);
    return { sessionId: `sid-${opened.length}` };
  };
  const trail = async (type: 'login.succeeded' | 'login.failed' | 'login.locked', requestId: string) =>
    (await audit.list({ type, limit: 100 })).events.filter((e) => e.requestId === requestId);
  return { deps, accounts, user, clock, hashes, seen, attempt, open, opened, trail };
}

test('a right password: ok, the session opened once, one login.succeeded row (with the session) and event', async (t) => {
  const { deps, user, attempt, open, opened, trail, seen } = await setup();
  const a = attempt(PASSWORD);
  const result = await authenticateUser(deps, a, open);
  t.is(result.kind, 'ok');
  if (result.kind === 'ok') t.is(result.user.id, user.id);
  t.deepEqual(opened, [user.id]);
  const rows = await trail('login.succeeded', a.stamp.requestId as string);
  t.is(rows.length, 1);
  t.like(rows[0], {
    actor: 'c_app',
    ip: '192.0.2.10',
    username: user.username,
    userId: user.id,
    clientId: 'c_app',
    sessionId: 'sid-1',
    detail: { method: 'password' },
  });
  t.deepEqual(seen, [
    { name: 'login.succeeded', payload: { clientId: 'c_app', userId: user.id, method: 'password' } },
  ]);
});

test('wrong password and unknown user: bad_credentials, one hash each, the reason in the trail only', async (t) => {
  const { deps, attempt, open, opened, trail, hashes, seen } = await setup();
  const wrong = attempt('not the password');
  t.deepEqual(await authenticateUser(deps, wrong, open), { kind: 'bad_credentials' });
  const unknown = attempt('whatever it is', { username: `nobody-${randomBytes(3).toString('hex')}` });
  t.deepEqual(await authenticateUser(deps, unknown, open), { kind: 'bad_credentials' });
  // An unknown username costs the same one hash as a known one (no timing difference).
  t.is(hashes.count, 2);
  t.deepEqual(opened, []);
  t.like((await trail('login.failed', wrong.stamp.requestId as string))[0], {
    detail: { reason: 'bad_password' },
  });
  t.like((await trail('login.failed', unknown.stamp.requestId as string))[0], {
    username: unknown.username,
    userId: null,
    detail: { reason: 'unknown_user' },
  });
  t.deepEqual(
    seen.map((e) => e.name),
    ['login.failed', 'login.failed'],
  );
});

test('N7: a disabled user with the right password is refused and counts as a failure for the throttle', async (t) => {
  const { deps, accounts, user, attempt, open, opened, trail } = await setup();
  await accounts.disable(user.username);
  t.deepEqual(await authenticateUser(deps, attempt('wrong one'), open), { kind: 'bad_credentials' });
  t.deepEqual(await authenticateUser(deps, attempt('wrong two'), open), { kind: 'bad_credentials' });
  const right = attempt(PASSWORD);
  t.deepEqual(await authenticateUser(deps, right, open), { kind: 'disabled' });
  t.like((await trail('login.failed', right.stamp.requestId as string))[0], {
    detail: { reason: 'disabled' },
  });
  // The right password did not end the streak: it was the third failure and locked the pair.
  t.is((await trail('login.locked', right.stamp.requestId as string)).length, 1);
  t.deepEqual(await authenticateUser(deps, attempt(PASSWORD), open), {
    kind: 'locked',
    limit: 3,
    retryAfterSeconds: 60,
  });
  t.deepEqual(opened, []);
});

test('locked: no hashing and no session; the lockout doubles by the clock and a success resets it', async (t) => {
  const { deps, attempt, open, clock, hashes } = await setup({
    limits: { loginFailuresPerUserIp: 2, loginLockoutBase: 10, loginLockoutMax: 25 },
  });
  const fail = () => authenticateUser(deps, attempt('wrong'), open);
  t.is((await fail()).kind, 'bad_credentials');
  t.is((await fail()).kind, 'bad_credentials');
  const hashed = hashes.count;
  t.deepEqual(await authenticateUser(deps, attempt(PASSWORD), open), {
    kind: 'locked',
    limit: 2,
    retryAfterSeconds: 10,
  });
  t.is(hashes.count, hashed, 'a locked pair costs no hash');
  clock.advance(9);
  t.like(await fail(), { kind: 'locked', retryAfterSeconds: 1 });
  clock.advance(1);
  t.is((await fail()).kind, 'bad_credentials', 'lock over: one more guess is checked');
  t.like(await fail(), { kind: 'locked', retryAfterSeconds: 20 });
  clock.advance(20);
  t.is((await fail()).kind, 'bad_credentials');
  t.like(await fail(), { kind: 'locked', retryAfterSeconds: 25 }, 'capped at the maximum');
  clock.advance(25);
  t.is((await authenticateUser(deps, attempt(PASSWORD), open)).kind, 'ok');
  t.is((await fail()).kind, 'bad_credentials', 'the streak was reset');
});

test('a parallel burst of guesses gets at most the limit of hashes', async (t) => {
  const { deps, attempt, open, hashes } = await setup({ limits: { loginFailuresPerUserIp: 4 } });
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => authenticateUser(deps, attempt(`guess-${i}`), open)),
  );
  const checked = results.filter((r) => r.kind === 'bad_credentials').length;
  t.true(checked >= 1 && checked <= 4, `${checked} checked`);
  t.is(results.filter((r) => r.kind === 'locked').length, 20 - checked);
  t.true(hashes.count <= 4, `${hashes.count} hashes`);
});

test('busy: a full hashing queue is its own result and costs no throttle points', async (t) => {
  const queue = new HashingQueue({ concurrency: 1, maxWaitMs: 5000, maxQueued: 0 });
  const { deps, attempt, open } = await setup({ queue, limits: { loginFailuresPerUserIp: 1 } });
  let release!: () => void;
  const held = queue.run(() => new Promise<void>((r) => (release = r)));
  const busy = await authenticateUser(deps, attempt('wrong'), open);
  t.deepEqual(busy, { kind: 'busy', retryAfterSeconds: 5 });
  release();
  await held;
  // The busy attempt was not counted: the pair's one allowed failure is still there.
  t.is((await authenticateUser(deps, attempt('wrong'), open)).kind, 'bad_credentials');
  t.is((await authenticateUser(deps, attempt(PASSWORD), open)).kind, 'locked');
});

test('over-long credentials are refused without a hash', async (t) => {
  const { deps, attempt, open, hashes } = await setup();
  t.deepEqual(await authenticateUser(deps, attempt('x'.repeat(1025)), open), { kind: 'bad_credentials' });
  t.is(hashes.count, 0);
});
