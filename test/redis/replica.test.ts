import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { decodeJwt } from 'jose';
import { loadConfig } from '../../src/config.js';
import { EventBus } from '../../src/events.js';
import { closeRedis } from '../../src/redis/close.js';
import { connectRedis } from '../../src/redis/connect.js';
import { PostgresRevocationStore } from '../../src/stores/postgres/revocations.js';
import { RedisDenylist } from '../../src/stores/redis/denylist.js';
import { type TestServer, useServer } from '../helpers/app.js';
import { fileDatabase } from '../helpers/database.js';
import {
  createClient,
  createResourceServer,
  createUser,
  introspect,
  passwordLogin,
} from '../helpers/oauth.js';
import { hasRedisServer, type LocalRedis, startRedis } from '../helpers/redis.js';

// Each test starts its own redis-server: it kills pub/sub clients and watches MONITOR, which
// must not disturb (or see) the other test files on the shared Redis.
// Serial: the servers of a test share the file's database pool, whose queries one test counts.
const needsRedisServer = hasRedisServer ? test.serial : test.skip;
const API = 'https://api.example.com';

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(10);
  }
  return false;
}

async function ownRedis(t: ExecutionContext): Promise<LocalRedis> {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  return redis;
}

const denylistOf = (s: TestServer) => s.services.denylist as RedisDenylist;

/**
 * Every command Redis executes while `run` runs, but the heartbeats: MONITOR on a raw socket
 * (its lines are RESP simple strings), which sees every client of this test's own Redis.
 */
async function redisCommands(url: string, run: () => Promise<void>): Promise<string[]> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  const seen: string[] = [];
  let buffered = '';
  let started!: () => void;
  const ok = new Promise<void>((resolve) => {
    started = resolve;
  });
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\r\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '+OK') started();
      // The heartbeat is the one script every instance runs on its own clock, not per request;
      // the commands a script runs are listed after it ("[0 lua]").
      else if (line.startsWith('+') && !line.includes(' lua] ') && !line.includes('"hb ')) seen.push(line);
    }
  });
  socket.write('MONITOR\r\n');
  await ok;
  await sleep(50);
  try {
    await run();
    await sleep(50);
  } finally {
    socket.destroy();
  }
  return seen;
}

/** Every SQL statement the server's pool runs while `run` runs (knex's 'query' event). */
async function postgresQueries(s: TestServer, run: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const onQuery = (q: { sql: string }) => seen.push(q.sql);
  s.services.db.on('query', onQuery);
  try {
    await run();
  } finally {
    s.services.db.off('query', onQuery);
  }
  return seen;
}

async function setup(t: ExecutionContext, redis: LocalRedis) {
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'replica:' };
  const a = await useServer(t, { env });
  const b = await useServer(t, { database: a.database, env });
  const app = await createClient(a, { name: 'app', audiences: [API, 'http://tessera.test'] });
  const rs = await createResourceServer(a, [API]);
  const user = await createUser(a);
  const login = async () =>
    (await passwordLogin(a, app, user.username, user.password)).body.access_token as string;
  const revoke = (s: TestServer, token: string) => {
    const { jti, exp } = decodeJwt(token);
    return s.services.denylist.add([
      { kind: 'jti', value: jti as string, expiresAt: new Date((exp as number) * 1000), reason: 'test' },
    ]);
  };
  t.true(await eventually(() => denylistOf(a).trusted() && denylistOf(b).trusted()), 'replicas trusted');
  return { a, b, app, rs, user, login, revoke };
}

needsRedisServer(
  'a cached token answers a bearer route and /introspect with zero Redis and Postgres calls [needs redis-server]',
  async (t) => {
    const redis = await ownRedis(t);
    const { b, rs, login } = await setup(t, redis);
    const token = await login();
    const me = () => fetch(`${b.url}/me`, { headers: { authorization: `Bearer ${token}` } });
    t.is((await me()).status, 200, 'first call: signature verified and cached');
    let status = 0;
    const sql = await postgresQueries(b, async () => {
      const commands = await redisCommands(redis.url, async () => {
        status = (await me()).status;
      });
      t.deepEqual(commands, [], 'no Redis command');
    });
    t.is(status, 200);
    t.deepEqual(sql, [], 'no Postgres query');

    // /introspect too: the caller's client is cached and its request budget is a local slice
    // (client_budget.ts), so from the second call on it holds no round trip either.
    t.is((await introspect(b, rs, token)).body.active, true);
    let active: unknown;
    const introspectSql = await postgresQueries(b, async () => {
      const commands = await redisCommands(redis.url, async () => {
        active = (await introspect(b, rs, token)).body.active;
      });
      t.deepEqual(commands, [], 'no Redis command for /introspect');
    });
    t.is(active, true);
    t.deepEqual(introspectSql, [], 'no Postgres query for /introspect');
  },
);

needsRedisServer(
  'revoke on A → refused by B at its first check, from its replica [needs redis-server]',
  async (t) => {
    const redis = await ownRedis(t);
    const { a, b, rs, login, revoke } = await setup(t, redis);
    for (let i = 0; i < 5; i++) {
      const token = await login();
      t.is((await introspect(b, rs, token)).body.active, true);
      await revoke(a, token);
      t.deepEqual((await introspect(b, rs, token)).body, { active: false }, `try ${i}`);
      t.true(denylistOf(b).trusted(), 'answered while trusted');
    }
    // The index holds what the replicas are rebuilt from: member kind:id, score = expiry.
    const direct = new Redis(redis.url);
    t.teardown(() => direct.disconnect());
    t.is(await direct.zcard('replica:{deny}:index'), 5);
  },
);

needsRedisServer(
  'a lost subscription is not trusted; reconnected, the replica is re-read from the index [needs redis-server]',
  async (t) => {
    const redis = await ownRedis(t);
    const { b, rs, login } = await setup(t, redis);
    const token = await login();
    t.is((await introspect(b, rs, token)).body.active, true);
    const direct = new Redis(redis.url);
    t.teardown(() => direct.disconnect());
    // A revocation whose message never arrived (as if sent while the subscriber was away): in
    // Redis and in the index, never published. Without a check of Redis, B cannot know it...
    const { jti, exp } = decodeJwt(token);
    const expires = (exp as number) * 1000;
    await direct
      .multi()
      .set(`replica:{deny}:jti:${jti}`, '1', 'PX', expires - Date.now())
      .zadd('replica:{deny}:index', expires, `jti:${jti}`)
      .exec();
    t.is((await introspect(b, rs, token)).body.active, true, 'the replica is what answers');
    // ...until its subscription drops: from then on it is in doubt, and on reconnection the index
    // is read again before the replica is trusted.
    await direct.client('KILL', 'TYPE', 'pubsub');
    t.true(
      await eventually(() => !denylistOf(b).trusted(), 1000),
      'not trusted once the subscription dropped',
    );
    t.true(await eventually(() => denylistOf(b).trusted()), 'trusted again after the re-read');
    t.deepEqual((await introspect(b, rs, token)).body, { active: false });
  },
);

needsRedisServer(
  'a late heartbeat ends trust: the check reads Redis, as without a replica [needs redis-server]',
  async (t) => {
    const redis = await ownRedis(t);
    const config = loadConfig({ REDIS_URL: redis.url });
    const client = connectRedis(config);
    if (!client) throw new Error('no client');
    t.teardown(() => closeRedis(client));
    const durable = new PostgresRevocationStore((await fileDatabase()).db);
    const denylist = new RedisDenylist({
      redis: client,
      durable,
      prefix: 'late:',
      events: new EventBus(),
      now: Date.now,
      heartbeatMs: 60_000,
      trustWindowMs: 1000,
    });
    t.teardown(() => denylist.close());
    await denylist.load();
    t.true(await eventually(() => denylist.trusted()), 'the first heartbeat came back');
    const jti = randomUUID();
    const quiet = await redisCommands(redis.url, async () => {
      t.false(await denylist.isRevoked(jti, undefined));
    });
    t.deepEqual(quiet, [], 'trusted: answered from memory');
    await sleep(1000);
    t.false(denylist.trusted(), 'no heartbeat within the trust window');
    const read = await redisCommands(redis.url, async () => {
      t.false(await denylist.isRevoked(jti, undefined));
    });
    t.is(read.length, 1, read.join('\n'));
    t.regex(read[0] as string, /"mget" "late:\{deny\}:ready" "late:\{deny\}:jti:/);
  },
);

needsRedisServer('the CLI keeps no replica: every check reads Redis [needs redis-server]', async (t) => {
  const redis = await ownRedis(t);
  const client = connectRedis(loadConfig({ REDIS_URL: redis.url }));
  if (!client) throw new Error('no client');
  t.teardown(() => closeRedis(client));
  const durable = new PostgresRevocationStore((await fileDatabase()).db);
  const denylist = new RedisDenylist({
    redis: client,
    durable,
    prefix: 'cli:',
    events: new EventBus(),
    now: Date.now,
    replica: false,
  });
  t.teardown(() => denylist.close());
  await denylist.load();
  await sleep(150);
  t.false(denylist.trusted());
  const direct = new Redis(redis.url);
  t.teardown(() => direct.disconnect());
  const clients = (await direct.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
  t.is(clients.trim(), '', 'no subscriber connection');
});
