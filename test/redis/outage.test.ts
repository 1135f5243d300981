import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { Redis } from 'ioredis';
import { decodeJwt } from 'jose';
import type { RedisDenylist } from '../../src/stores/redis/denylist.js';
import { type TestServer, useServer } from '../helpers/app.js';
import {
  createClient,
  createResourceServer,
  createUser,
  introspect,
  passwordLogin,
} from '../helpers/oauth.js';
import { hasRedisServer, startRedis } from '../helpers/redis.js';

// This file starts (and kills) its own redis-server, so it never disturbs the shared one.
const needsRedisServer = hasRedisServer ? test : test.skip;
const API = 'https://api.example.com';

async function readyz(s: TestServer) {
  const res = await fetch(`${s.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

needsRedisServer(
  'Redis down → answers from Postgres, degraded; restarted empty → rebuilt and recovered [needs redis-server]',
  async (t) => {
    const redis = await startRedis();
    t.teardown(() => redis.stop());
    const s = await useServer(t, { env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'outage:' } });
    const events: string[] = [];
    s.services.events.on('dependency.degraded', (e) => events.push(`degraded:${e.dependency}`));
    s.services.events.on('dependency.recovered', (e) => events.push(`recovered:${e.dependency}`));
    const app = await createClient(s, { name: 'app', audiences: [API] });
    const rs = await createResourceServer(s, [API]);
    const user = await createUser(s);
    const login = async () =>
      (await passwordLogin(s, app, user.username, user.password)).body.access_token as string;
    const revoke = (token: string) => {
      const { jti, exp } = decodeJwt(token);
      return s.services.denylist.add([
        { kind: 'jti', value: jti as string, expiresAt: new Date((exp as number) * 1000) },
      ]);
    };

    const before = await login();
    const live = await login();
    await revoke(before);
    t.deepEqual((await readyz(s)).body, {
      status: 'ok',
      mode: 'redis',
      checks: { database: 'ok', redis: 'ok' },
    });

    await redis.stop();
    const started = Date.now();
    t.deepEqual(
      (await introspect(s, rs, before)).body,
      { active: false },
      'revoked stays revoked (Postgres)',
    );
    t.is((await introspect(s, rs, live)).body.active, true, 'live stays live');
    t.true(Date.now() - started < 3000, 'no request hangs on a dead Redis');
    t.true(events.includes('degraded:redis'));

    // A revocation during the outage goes to Postgres and still counts everywhere.
    const during = await login();
    await revoke(during);
    t.deepEqual((await introspect(s, rs, during)).body, { active: false });
    // Rate limits fall back to per-process memory: logins still work.
    t.is((await passwordLogin(s, app, user.username, user.password)).status, 200);
    const degraded = await readyz(s);
    t.is(degraded.status, 200, 'Redis down is degraded, not unready');
    t.deepEqual(degraded.body, {
      status: 'degraded',
      mode: 'redis',
      checks: { database: 'ok', redis: 'down' },
    });

    // Back, but empty (no persistence): like a restart or a failover to an empty replica.
    await redis.start();
    t.true(
      await eventually(async () => {
        await introspect(s, rs, live);
        await (s.services.denylist as RedisDenylist).settled();
        return events.includes('recovered:redis') && (await readyz(s)).body.status === 'ok';
      }),
      'recovers by itself',
    );
    const probe = new Redis(redis.url);
    t.teardown(() => probe.disconnect());
    t.true(
      await eventually(async () => (await probe.exists('outage:{deny}:ready')) === 1),
      'marker rewritten after the rebuild',
    );
    t.is(await probe.exists(`outage:{deny}:jti:${decodeJwt(before).jti}`), 1);
    t.is(await probe.exists(`outage:{deny}:jti:${decodeJwt(during).jti}`), 1, 'the outage revocation too');
    t.deepEqual((await introspect(s, rs, before)).body, { active: false });
    t.deepEqual((await introspect(s, rs, during)).body, { active: false });
    t.is((await introspect(s, rs, live)).body.active, true);

    // And a sid revocation after recovery is served by Redis again.
    const sid = randomUUID();
    await s.services.denylist.add([{ kind: 'sid', value: sid, expiresAt: new Date(Date.now() + 60_000) }]);
    t.is(await probe.exists(`outage:{deny}:sid:${sid}`), 1);
  },
);

needsRedisServer(
  'a hung Redis (accepts, never answers) costs a bounded delay, never a hang [needs redis-server]',
  async (t) => {
    const redis = await startRedis();
    t.teardown(() => redis.stop());
    const s = await useServer(t, { env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'hung:' } });
    const app = await createClient(s, { name: 'app', audiences: [API] });
    const rs = await createResourceServer(s, [API]);
    const user = await createUser(s);
    const login = () => passwordLogin(s, app, user.username, user.password);
    const revoked = (await login()).body.access_token as string;
    const live = (await login()).body.access_token as string;
    const { jti, exp } = decodeJwt(revoked);
    await s.services.denylist.add([
      { kind: 'jti', value: jti as string, expiresAt: new Date((exp as number) * 1000) },
    ]);

    redis.pause();
    t.teardown(() => redis.resume());
    let started = Date.now();
    t.deepEqual((await introspect(s, rs, revoked)).body, { active: false });
    t.is((await introspect(s, rs, live)).body.active, true);
    t.true(Date.now() - started < 2000, `introspection took ${Date.now() - started} ms`);
    started = Date.now();
    // Rate limits wait at most the command timeout, then use the in-memory insurance limiter.
    t.is((await login()).status, 200);
    t.log(`login ${Date.now() - started} ms`);
    t.true(Date.now() - started < 3000, `login took ${Date.now() - started} ms`);
    t.is((await readyz(s)).body.status, 'degraded');

    redis.resume();
    t.true(
      await eventually(async () => {
        await introspect(s, rs, live);
        await (s.services.denylist as RedisDenylist).settled();
        return (await readyz(s)).body.status === 'ok';
      }),
    );
    t.deepEqual((await introspect(s, rs, revoked)).body, { active: false });
    t.is((await introspect(s, rs, live)).body.active, true);
  },
);
