import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startServer, TEST_KEK } from '../helpers/app.js';
import {
  hasRedisServer,
  type LocalCluster,
  type LocalRedis,
  startCluster,
  startRedis,
} from '../helpers/redis.js';

// REDIS_PASSWORD (docs/redis.md): the AUTH password of a single node or of every Cluster node,
// against throwaway servers started with --requirepass. Never in a log line.
const needsRedisServer = hasRedisServer ? test.serial : test.serial.skip;
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;

let single: LocalRedis | undefined;
let cluster: LocalCluster | undefined;
test.after.always('stop the servers', async () => {
  await single?.stop();
  await cluster?.stop();
});

/** A server on `env` whose every log line (debug and up) is kept. */
async function loggedServer(t: ExecutionContext, env: Record<string, string>) {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  const s = await startServer({ env, log });
  t.teardown(() => s.close());
  return { s, lines };
}

async function readiness(url: string) {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
}

test('REDIS_PASSWORD next to a password in REDIS_URL is refused (one password, not a merge order)', (t) => {
  const err = t.throws(
    () =>
      loadConfig({
        KEY_ENCRYPTION_KEY: TEST_KEK,
        REDIS_URL: 'redis://:inurl@127.0.0.1:6379',
        REDIS_PASSWORD: 'other',
      }),
    { instanceOf: ConfigError },
  );
  t.regex(err?.message ?? '', /REDIS_PASSWORD/);
  t.false((err?.message ?? '').includes('inurl'));
});

needsRedisServer(
  'single node: REDIS_PASSWORD authenticates, never logged [needs redis-server]',
  async (t) => {
    single = await startRedis({ password: PASSWORD });
    const env = { REDIS_URL: single.url, REDIS_KEY_PREFIX: 'pw:' };

    const without = await loggedServer(t, env);
    t.is((await readiness(without.s.url)).body.checks.redis, 'down', 'the server does require the password');

    const { s, lines } = await loggedServer(t, { ...env, REDIS_PASSWORD: PASSWORD });
    const ready = await readiness(s.url);
    t.is(ready.status, 200);
    t.is(ready.body.checks.redis, 'ok');
    t.true(lines.length > 0);
    t.false(lines.join('').includes(PASSWORD));
  },
);

needsRedisServer(
  'Redis Cluster: REDIS_PASSWORD reaches every node, the start logs no warning, instances hear key changes [needs redis-server]',
  async (t) => {
    cluster = await startCluster({ password: PASSWORD });
    const env = {
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: cluster.nodes.join(','),
      REDIS_PASSWORD: PASSWORD,
      REDIS_KEY_PREFIX: 'pwc:',
    };
    const a = await loggedServer(t, env);
    const b = await loggedServer(t, env);
    t.is((await readiness(b.s.url)).body.checks.redis, 'ok');

    // The key-change subscriber is a Cluster of its own: it must subscribe although its slot map
    // is still loading at start (it used to fail with "Cluster isn't ready" and never hear a change).
    await b.s.services.keySignal.ready?.();
    const heard = new Promise<void>((resolve) => b.s.services.keySignal.subscribe(resolve));
    await a.s.services.keySignal.publish();
    await t.notThrowsAsync(
      Promise.race([
        heard,
        new Promise((_, reject) => setTimeout(() => reject(new Error('not heard')), 3000)),
      ]),
    );

    const all = [...a.lines, ...b.lines];
    t.false(all.join('').includes(PASSWORD));
    t.deepEqual(
      all.filter((l) => (JSON.parse(l) as { level: number }).level >= 40),
      [],
      'no warning or error at start',
    );
  },
);
