import test from 'ava';
import { Cluster } from 'ioredis';
import { decodeJwt } from 'jose';
import { type RedisDenylist, TRUST_WINDOW_MS } from '../../src/stores/redis/denylist.js';
import { useServer } from '../helpers/app.js';
import { within } from '../helpers/keys.js';
import {
  assertOAuthError,
  createClient,
  createResourceServer,
  createUser,
  introspect,
  passwordLogin,
} from '../helpers/oauth.js';
import { hasRedisServer, type LocalCluster, startCluster } from '../helpers/redis.js';

// A local 3-master Redis Cluster started by this file (docs/redis.md topology: REDIS_CLUSTER_NODES).
const needsRedisServer = hasRedisServer ? test : test.skip;
const API = 'https://api.example.com';

let cluster: LocalCluster | undefined;
test.after.always('stop the cluster', async () => {
  await cluster?.stop();
});

needsRedisServer(
  'denylist and rate limits on a 3-master Redis Cluster, shared by two instances [needs redis-server]',
  async (t) => {
    cluster = await startCluster();
    const env = {
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: cluster.nodes.join(','),
      REDIS_KEY_PREFIX: 'cl:',
      RATE_LIMIT_LOGIN_FAILURES: '3',
    };
    const a = await useServer(t, { env });
    const b = await useServer(t, { database: a.database, env });
    t.deepEqual(await (await fetch(`${b.url}/readyz`)).json(), {
      status: 'ok',
      mode: 'redis-cluster',
      checks: { database: 'ok', redis: 'ok' },
    });
    const app = await createClient(a, { name: 'app', audiences: [API] });
    const rs = await createResourceServer(a, [API]);
    const user = await createUser(a);
    const victim = await createUser(a, 'victim');

    // Denylist: the jti+sid+marker MGET needs one slot; the {deny} hash tag gives it.
    const token = (await passwordLogin(a, app, user.username, user.password)).body.access_token as string;
    t.is((await introspect(b, rs, token)).body.active, true);
    const { jti, exp } = decodeJwt(token);
    await a.services.denylist.add([
      { kind: 'jti', value: jti as string, expiresAt: new Date((exp as number) * 1000) },
    ]);
    // On a Cluster the message crosses the bus from the {deny} master to B's subscriber's node
    // after A's acknowledgement; the trust window bounds the wait (docs/redis.md, "Propagation").
    const ms = await within(
      TRUST_WINDOW_MS + 700,
      async () => (await introspect(b, rs, token)).body.active === false,
      2,
    );
    t.true(ms >= 0, 'refused on B within the trust window');
    t.log(`revocation reached B after ${ms} ms`);

    // Marker gone (failover to an empty replica) → rebuilt in one MULTI on the {deny} slot.
    const probe = new Cluster(
      cluster.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })),
    );
    t.teardown(() => probe.disconnect());
    await probe.del('cl:{deny}:ready', `cl:{deny}:jti:${jti}`);
    t.deepEqual((await introspect(b, rs, token)).body, { active: false }, 'answered from Postgres meanwhile');
    await (b.services.denylist as RedisDenylist).settled();
    t.is(await probe.exists('cl:{deny}:ready'), 1);
    t.is(await probe.exists(`cl:{deny}:jti:${jti}`), 1);
    t.deepEqual((await introspect(a, rs, token)).body, { active: false });

    // Rate limits across instances through the cluster.
    for (const s of [a, b, a]) {
      assertOAuthError(
        t,
        await passwordLogin(s, app, victim.username, 'wrong password'),
        400,
        'invalid_grant',
      );
    }
    const locked = await passwordLogin(b, app, victim.username, victim.password);
    assertOAuthError(t, locked, 429, 'rate_limited');
    // The lock's end is kept in whole seconds, rounded up: never shorter than the lockout (docs/redis.md).
    t.true(['60', '61'].includes(locked.headers.get('retry-after') ?? ''));
    t.is((await passwordLogin(b, app, user.username, user.password)).status, 200, 'other users unaffected');
  },
);
