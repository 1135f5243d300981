import test, { type ExecutionContext } from 'ava';
import {
  adminPost,
  adminToken,
  clientToken,
  isolatedDatabase,
  jwksKids,
  keyServer,
  kidOf,
  serviceClient,
  within,
} from '../helpers/keys.js';
import {
  assertOAuthError,
  createClient,
  createUser,
  getJson,
  passwordLogin,
  type TestClient,
} from '../helpers/oauth.js';
import { logout, me, refresh, revoke } from '../helpers/sessions.js';

// Production on Postgres alone (docs/scaling.md): two instances on one real Postgres, no Redis.
// Every revocation must reach the other instance within 1 s, key changes within 3 s, and rate
// limits are shared. LISTEN/NOTIFY needs a Postgres server, so these run with DATABASE_URL.
const run = process.env.DATABASE_URL ? test.serial : test.serial.skip;
const tag = process.env.DATABASE_URL ? '' : ' [needs DATABASE_URL]';

/** No REDIS_URL whatever the run has; the periodic key reload far away, so only a signal can help. */
const POSTGRES_ONLY = { REDIS_URL: '', REDIS_CLUSTER_NODES: '', KEY_RELOAD_INTERVAL: '3600' };

async function twoInstances(t: ExecutionContext, env: Record<string, string> = {}) {
  const database = await isolatedDatabase(t);
  const a = await keyServer(t, { database, env: { ...POSTGRES_ONLY, ...env } });
  const b = await keyServer(t, { database, env: { ...POSTGRES_ONLY, ...env } });
  await Promise.all([a.services.keySignal.ready?.(), b.services.keySignal.ready?.()]);
  const app = await createClient(a, { name: 'app', grantTypes: ['password', 'refresh_token'] });
  const user = await createUser(a, 'pgonly');
  return { a, b, app, user };
}

async function login(
  s: Parameters<typeof passwordLogin>[0],
  app: TestClient,
  user: { username: string; password: string },
) {
  const res = await passwordLogin(s, app, user.username, user.password);
  if (res.status !== 200) throw new Error(JSON.stringify(res.body));
  return { access: res.body.access_token as string, refresh: res.body.refresh_token as string };
}

/** Polls B until the token is refused; fails the test past 1 s. Returns the delay in ms. */
async function refusedWithin1s(t: ExecutionContext, s: Parameters<typeof me>[0], access: string) {
  const ms = await within(1000, async () => (await me(s, access)).status === 401, 5);
  t.true(ms >= 0, 'refused on the other instance within 1 s');
  return ms;
}

run(`mode: the start-up log and /readyz say "postgres", with the notification listener${tag}`, async (t) => {
  const { a } = await twoInstances(t);
  const ready = await getJson(`${a.url}/readyz`);
  t.is(ready.status, 200);
  t.is(ready.body.mode, 'postgres');
  t.like(ready.body.checks as Record<string, unknown>, { database: 'ok', notifications: 'ok' });
});

run(`logout on A: B refuses the session's access token within 1 s${tag}`, async (t) => {
  const { a, b, app, user } = await twoInstances(t);
  const { access } = await login(a, app, user);
  t.is((await me(b, access)).status, 200);
  t.is(await logout(a, access), 204);
  t.log(`logout reached B after ${await refusedWithin1s(t, b, access)} ms`);
});

run(`revocation on B of a refresh token and of an access token: A refuses within 1 s${tag}`, async (t) => {
  const { a, b, app, user } = await twoInstances(t);
  const first = await login(a, app, user);
  t.is((await revoke(b, app, first.refresh)).status, 200);
  t.log(`refresh-token revocation reached A after ${await refusedWithin1s(t, a, first.access)} ms`);
  const second = await login(b, app, user);
  t.is((await me(a, second.access)).status, 200);
  t.is((await revoke(b, app, second.access)).status, 200);
  t.log(`access-token revocation reached A after ${await refusedWithin1s(t, a, second.access)} ms`);
});

run(`refresh-token reuse detected on B ends the session on A within 1 s${tag}`, async (t) => {
  const { a, b, app, user } = await twoInstances(t);
  const first = await login(a, app, user);
  const rotated = await refresh(a, app, first.refresh);
  t.is(rotated.status, 200);
  const access = rotated.body.access_token as string;
  t.is((await me(a, access)).status, 200);
  // The spent token again, on the other instance: reuse.
  assertOAuthError(t, await refresh(b, app, first.refresh), 400, 'invalid_grant');
  t.log(`reuse detection reached A after ${await refusedWithin1s(t, a, access)} ms`);
  assertOAuthError(t, await refresh(a, app, rotated.body.refresh_token as string), 400, 'invalid_grant');
});

run(`brute force alternating instances: the lockout counts failures on both${tag}`, async (t) => {
  const { a, b, app, user } = await twoInstances(t, { RATE_LIMIT_LOGIN_FAILURES: '4' });
  const instances = [a, b];
  for (let i = 0; i < 4; i++) {
    const res = await passwordLogin(instances[i % 2] as typeof a, app, user.username, 'wrong password');
    assertOAuthError(t, res, 400, 'invalid_grant');
  }
  // Four failures in total, two on each: both instances refuse the pair now, even the right password.
  for (const s of instances) {
    const res = await passwordLogin(s, app, user.username, user.password);
    assertOAuthError(t, res, 429, 'rate_limited');
    t.true(Number(res.headers.get('retry-after')) >= 1);
  }
});

run(`key rotation through A: B signs with the new key within 3 s, by signal alone${tag}`, async (t) => {
  const { a, b } = await twoInstances(t);
  const client = await serviceClient(a);
  const oldKid = kidOf(await clientToken(b, client));
  const res = await adminPost(a, '/admin/keys/rotate', await adminToken(a), { force: true });
  t.is(res.status, 200, res.text);
  const newKid = (res.body.keys as { kid: string; state: string }[]).find((k) => k.state === 'active')?.kid;
  t.truthy(newKid);
  t.not(newKid, oldKid);
  const ms = await within(3000, async () => kidOf(await clientToken(b, client)) === newKid, 10);
  t.true(ms >= 0, 'B signs with the new key within 3 s');
  t.log(`rotation reached B after ${ms} ms`);
  t.true((await jwksKids(b)).includes(newKid as string));
});
