import test from 'ava';
import { LocalKeyChangeSignal } from '../../src/keys/signal.js';
import { TEST_REDIS_PREFIX } from '../helpers/app.js';
import {
  adminPost,
  adminToken,
  cli,
  cliEnv,
  clientToken,
  deafSignal,
  isolatedDatabase,
  jwksKids,
  keyServer,
  kidOf,
  serviceClient,
  within,
} from '../helpers/keys.js';

// A channel of our own: parallel test files (and runs) sharing one Redis must not hear each other.
// Under the file's prefix, so the shared Redis is cleaned up after the file (test/helpers/app.ts).
const env = { REDIS_KEY_PREFIX: `${TEST_REDIS_PREFIX}propagation:` };
const needsRedis = process.env.REDIS_URL ? test.serial : test.serial.skip;

/** Rotates through A's admin API (forced: both instances just created their keys). */
async function rotateViaAdmin(a: Awaited<ReturnType<typeof keyServer>>) {
  const res = await adminPost(a, '/admin/keys/rotate', await adminToken(a), { force: true });
  if (res.status !== 200) throw new Error(res.text);
  return (res.body.keys as { kid: string; state: string }[]).find((k) => k.state === 'active')?.kid as string;
}

async function twoInstances(
  t: Parameters<typeof keyServer>[0],
  options: { a?: Parameters<typeof keyServer>[1]; b?: Parameters<typeof keyServer>[1] } = {},
) {
  const database = await isolatedDatabase(t);
  const a = await keyServer(t, { database, env, ...options.a });
  const b = await keyServer(t, { database, env, ...options.b });
  // Production instances are subscribed long before anyone rotates; tests rotate at once.
  await Promise.all([a.services.keySignal.ready?.(), b.services.keySignal.ready?.()]);
  return { a, b, client: await serviceClient(a) };
}

needsRedis(
  'two instances on Postgres + Redis: rotate via A, B signs with the new kid within 1 s [needs REDIS_URL]',
  async (t) => {
    const { a, b, client } = await twoInstances(t);
    const oldKid = kidOf(await clientToken(b, client));
    const newKid = await rotateViaAdmin(a);
    t.not(newKid, oldKid);
    const elapsed = await within(1000, async () => kidOf(await clientToken(b, client)) === newKid);
    t.true(elapsed >= 0, 'B signs with the new key within 1 s');
    t.log(`B switched after ${elapsed} ms`);
    t.true((await jwksKids(b)).includes(newKid));
    t.is((await jwksKids(b)).length, 3);
  },
);

needsRedis('revoke via A: B stops accepting the revoked key within 1 s [needs REDIS_URL]', async (t) => {
  const { a, b, client } = await twoInstances(t);
  const token = await clientToken(b, client);
  const kid = kidOf(token);
  const res = await adminPost(a, `/admin/keys/${kid}/revoke`, await adminToken(a));
  t.is(res.status, 200, res.text);
  const elapsed = await within(1000, async () => {
    const me = await fetch(`${b.url}/me`, { headers: { authorization: `Bearer ${token}` } });
    await me.arrayBuffer();
    return me.status === 401;
  });
  t.true(elapsed >= 0, 'B refuses tokens of the revoked key within 1 s');
  t.false((await jwksKids(b)).includes(kid));
});

test.serial('a missed message is covered by the periodic reload (KEY_RELOAD_INTERVAL=1)', async (t) => {
  // B hears nothing: only its timer can pick the rotation up.
  const { a, b, client } = await twoInstances(t, {
    b: { env: { ...env, KEY_RELOAD_INTERVAL: '1' }, keySignal: deafSignal() },
  });
  const newKid = await rotateViaAdmin(a);
  t.not(kidOf(await clientToken(b, client)), newKid, 'B has not reloaded yet');
  const elapsed = await within(2500, async () => kidOf(await clientToken(b, client)) === newKid);
  t.true(elapsed >= 0, 'B reloads on its timer');
  t.true((await jwksKids(b)).includes(newKid));
});

test.serial('in-process signal (embedded mode): instances sharing it reload at once', async (t) => {
  const keySignal = new LocalKeyChangeSignal();
  const { a, b, client } = await twoInstances(t, { a: { keySignal }, b: { keySignal } });
  const newKid = await rotateViaAdmin(a);
  const elapsed = await within(1000, async () => kidOf(await clientToken(b, client)) === newKid);
  t.true(elapsed >= 0);
});

const needsServices = process.env.REDIS_URL && process.env.DATABASE_URL ? test.serial : test.serial.skip;

needsServices(
  'the CLI (its own services and Redis connection) signals running instances [needs DATABASE_URL and REDIS_URL]',
  async (t) => {
    const { a, b, client } = await twoInstances(t);
    const res = await cli(['keys', 'rotate', '--force', '--json'], cliEnv(t, a.database, env));
    t.is(res.code, 0, res.stderr);
    const active = (JSON.parse(res.stdout).keys as { kid: string; state: string }[]).find(
      (k) => k.state === 'active',
    )?.kid;
    const elapsed = await within(1000, async () => kidOf(await clientToken(b, client)) === active);
    t.true(elapsed >= 0, 'B signs with the key the CLI promoted within 1 s');
    t.true((await within(1000, async () => kidOf(await clientToken(a, client)) === active)) >= 0);
  },
);
