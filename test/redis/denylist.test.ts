import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { decodeJwt } from 'jose';
import type { RedisDenylist } from '../../src/stores/redis/denylist.js';
import { TEST_REDIS_PREFIX, type TestServer, useServer } from '../helpers/app.js';
import {
  createClient,
  createResourceServer,
  createUser,
  introspect,
  passwordLogin,
  type TestClient,
} from '../helpers/oauth.js';
import { deletePrefix } from '../helpers/redis.js';

const needsRedis = process.env.REDIS_URL ? test : test.skip;
const API = 'https://api.example.com';

/** Two instances (A and B) on one database and one Redis namespace. */
async function twoInstances(t: ExecutionContext) {
  const prefix = `${TEST_REDIS_PREFIX}${randomBytes(4).toString('hex')}:`;
  const a = await useServer(t, { env: { REDIS_KEY_PREFIX: prefix } });
  const b = await useServer(t, { database: a.database, env: { REDIS_KEY_PREFIX: prefix } });
  const app = await createClient(a, { name: 'app', audiences: [API] });
  const rs = await createResourceServer(a, [API]);
  const user = await createUser(a);
  const redis = new Redis(process.env.REDIS_URL as string);
  t.teardown(() => redis.disconnect());
  return { a, b, app, rs, user, prefix, redis };
}

async function login(s: TestServer, app: TestClient, user: { username: string; password: string }) {
  const res = await passwordLogin(s, app, user.username, user.password);
  return res.body.access_token as string;
}

const revokeJti = (s: TestServer, token: string) => {
  const { jti, exp } = decodeJwt(token);
  return s.services.denylist.add([
    { kind: 'jti', value: jti as string, expiresAt: new Date((exp as number) * 1000), reason: 'test' },
  ]);
};

needsRedis(
  'revoke on A → inactive on B at once; keys are hash-tagged with a TTL [needs REDIS_URL]',
  async (t) => {
    const { a, b, app, rs, user, prefix, redis } = await twoInstances(t);
    const token = await login(a, app, user);
    t.is((await introspect(b, rs, token)).body.active, true);
    await revokeJti(a, token);
    t.deepEqual((await introspect(b, rs, token)).body, { active: false });

    const { jti, exp } = decodeJwt(token);
    const ttl = await redis.pttl(`${prefix}{deny}:jti:${jti}`);
    const remaining = (exp as number) * 1000 - Date.now();
    t.true(ttl > 0 && ttl <= remaining + 1000 && ttl > remaining - 10_000, `ttl ${ttl} vs ${remaining}`);
    t.not(await redis.get(`${prefix}{deny}:ready`), null, 'marker written at start');

    // sid: every token of the session stops at once, on every instance.
    const sid = randomUUID();
    const minted = await a.services.minter.mint({
      subject: user.id,
      clientId: app.client_id,
      audience: API,
      scope: 'read',
      ttl: 900,
      user: { username: user.username, roles: [] },
      sid,
    });
    t.is((await introspect(a, rs, minted.token)).body.active, true);
    await b.services.denylist.add([
      { kind: 'sid', value: sid, expiresAt: new Date(Date.now() + 86_400_000) },
    ]);
    t.deepEqual((await introspect(a, rs, minted.token)).body, { active: false });
    t.is(await redis.exists(`${prefix}{deny}:sid:${sid}`), 1);
  },
);

needsRedis(
  'Redis flushed (marker gone) → still inactive, then rebuilt from Postgres [needs REDIS_URL]',
  async (t) => {
    const { a, b, app, rs, user, prefix, redis } = await twoInstances(t);
    const revoked = await login(a, app, user);
    const live = await login(a, app, user);
    await revokeJti(a, revoked);
    // Our namespace only: other test files share this Redis, so never FLUSHALL it.
    t.true((await deletePrefix(process.env.REDIS_URL as string, prefix)) >= 2);
    t.is(await redis.exists(`${prefix}{deny}:ready`), 0);

    t.deepEqual((await introspect(b, rs, revoked)).body, { active: false }, 'answered from Postgres');
    t.is((await introspect(b, rs, live)).body.active, true);
    await (b.services.denylist as RedisDenylist).settled();
    t.not(await redis.get(`${prefix}{deny}:ready`), null, 'marker rewritten after the rebuild');
    t.is(await redis.exists(`${prefix}{deny}:jti:${decodeJwt(revoked).jti}`), 1, 'entry rebuilt');
    t.deepEqual((await introspect(a, rs, revoked)).body, { active: false });
    t.deepEqual((await introspect(b, rs, revoked)).body, { active: false });
    t.is((await introspect(a, rs, live)).body.active, true);
  },
);

needsRedis(
  'rebuild is single-flight across instances: a held lock makes others wait [needs REDIS_URL]',
  async (t) => {
    const { a, prefix, redis } = await twoInstances(t);
    const denylist = a.services.denylist as RedisDenylist;
    await redis.del(`${prefix}{deny}:ready`);
    await redis.set(`${prefix}{deny}:rebuild-lock`, 'someone-else', 'PX', 5000);
    await denylist.rebuild();
    t.is(await redis.exists(`${prefix}{deny}:ready`), 0, 'no rebuild while another instance holds the lock');
    t.is(await redis.get(`${prefix}{deny}:rebuild-lock`), 'someone-else', 'lock not stolen');
    await redis.del(`${prefix}{deny}:rebuild-lock`);
    await denylist.rebuild();
    t.is(await redis.exists(`${prefix}{deny}:ready`), 1);
    t.is(await redis.exists(`${prefix}{deny}:rebuild-lock`), 0, 'lock released');
    await sleep(0);
  },
);

needsRedis('/readyz reports redis ok [needs REDIS_URL]', async (t) => {
  const s = await useServer(t);
  const res = await fetch(`${s.url}/readyz`);
  t.is(res.status, 200);
  t.deepEqual(await res.json(), { status: 'ok', mode: 'redis', checks: { database: 'ok', redis: 'ok' } });
});

test('/readyz without Redis: embedded in-process state, or Postgres with its listener', async (t) => {
  const s = await useServer(t, { env: { REDIS_URL: '' } });
  const res = await fetch(`${s.url}/readyz`);
  t.deepEqual(
    await res.json(),
    process.env.DATABASE_URL
      ? { status: 'ok', mode: 'postgres', checks: { database: 'ok', notifications: 'ok' } }
      : { status: 'ok', mode: 'embedded', checks: { database: 'ok', redis: 'embedded' } },
  );
});
