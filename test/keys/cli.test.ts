import { randomBytes } from 'node:crypto';
import test from 'ava';
import { KeyDecryptionError } from '../../src/keys/key_material.js';
import { rewrapKeys } from '../../src/keys/lifecycle.js';
import { startServer, TEST_KEK, TEST_REDIS_PREFIX } from '../helpers/app.js';
import {
  cli,
  clientToken,
  isolatedDatabase,
  keyServer,
  PRIVATE_MARKERS,
  readyCliEnv,
  serviceClient,
} from '../helpers/keys.js';
import { getJson } from '../helpers/oauth.js';

// Serial: every test builds its own database; embedded runs use a temporary DATA_DIR each.

const NEW_KEK = randomBytes(32).toString('base64url');

/** Fresh database for the CLI: the per-test Postgres database, or a new embedded DATA_DIR. */
async function cliDatabase(t: Parameters<typeof isolatedDatabase>[0]) {
  return process.env.DATABASE_URL ? isolatedDatabase(t) : undefined;
}

test.serial(
  'keys list / rotate [--force] / revoke: exit codes, reasons on stderr, JSON on stdout',
  async (t) => {
    const env = await readyCliEnv(t, await cliDatabase(t), {
      REDIS_KEY_PREFIX: `${TEST_REDIS_PREFIX}cli:`,
    });
    const outputs: string[] = [];
    const run = async (...argv: string[]) => {
      const r = await cli(argv, env);
      outputs.push(r.stdout, r.stderr);
      return r;
    };

    const refused = await run('keys', 'rotate');
    t.is(refused.code, 1);
    t.is(refused.stdout, '');
    t.regex(
      refused.stderr,
      /^tessera keys rotate: next key published \d+ s ago; it may sign after 300 s; run with --force to rotate now\n$/,
    );

    const forced = await run('keys', 'rotate', '--force', '--json');
    t.is(forced.code, 0, forced.stderr);
    const rotated = JSON.parse(forced.stdout) as { rotated: boolean; keys: Record<string, string>[] };
    t.true(rotated.rotated);
    t.deepEqual(rotated.keys.map((k) => k.state).sort(), ['active', 'next', 'retired']);

    const list = await run('keys', 'list', '--json');
    t.is(list.code, 0, list.stderr);
    const keys = JSON.parse(list.stdout).keys as Record<string, string | null>[];
    t.deepEqual(Object.keys(keys[0] ?? {}).sort(), [
      'activated_at',
      'alg',
      'created_at',
      'expires_at',
      'kid',
      'retired_at',
      'state',
    ]);
    const human = await run('keys', 'list');
    t.is(human.code, 0);
    t.regex(human.stdout, /^kid +alg +state +created_at[\s\S]+ active +/m);

    const active = keys.find((k) => k.state === 'active')?.kid as string;
    // Human output with the server's LOG_LEVEL: the table alone, no pino line beside it on stderr.
    const revoked = await cli(['keys', 'revoke', active], { ...env, LOG_LEVEL: 'info' });
    t.is(revoked.code, 0, revoked.stderr);
    t.is(revoked.stderr, '');
    t.regex(revoked.stdout, /^revoked +\S+/);
    const after = JSON.parse((await run('keys', 'list', '--json')).stdout).keys as Record<string, string>[];
    t.is(after.find((k) => k.kid === active)?.state, 'revoked');
    t.is(after.filter((k) => k.state === 'active').length, 1);

    const unknown = await run('keys', 'revoke', 'no-such-kid');
    t.is(unknown.code, 1);
    t.regex(unknown.stderr, /no key with this kid/);
    const usage = await run('keys', 'revoke');
    t.is(usage.code, 2);
    t.regex(usage.stderr, /usage: tessera keys revoke KID/);

    for (const text of outputs) t.notRegex(text, PRIVATE_MARKERS);
  },
);

test.serial(
  'keys rewrap moves every key to the new KEK; old KEK then fails clearly; idempotent',
  async (t) => {
    const database = await cliDatabase(t);
    const oldEnv = await readyCliEnv(t, database);
    const t0 = await cli(['keys', 'rotate', '--force', '--json'], oldEnv);
    t.is(t0.code, 0, t0.stderr);
    const newEnv = { ...oldEnv, KEY_ENCRYPTION_KEY: NEW_KEK };

    // Without the previous KEK nothing can be rewrapped, and nothing changes.
    const missing = await cli(['keys', 'rewrap'], newEnv);
    t.is(missing.code, 1);
    t.regex(missing.stderr, /KEY_ENCRYPTION_KEY_PREVIOUS is not set/);

    const rewrap = await cli(['keys', 'rewrap', '--json'], {
      ...newEnv,
      KEY_ENCRYPTION_KEY_PREVIOUS: TEST_KEK,
    });
    t.is(rewrap.code, 0, rewrap.stderr);
    t.deepEqual(JSON.parse(rewrap.stdout), { rewrapped: 3, total: 3 });
    const again = await cli(['keys', 'rewrap', '--json'], {
      ...newEnv,
      KEY_ENCRYPTION_KEY_PREVIOUS: TEST_KEK,
    });
    t.deepEqual(JSON.parse(again.stdout), { rewrapped: 0, total: 3 }, 'idempotent');

    // "Restart": each CLI run builds the services and decrypts the active key.
    const withNew = await cli(['keys', 'rotate', '--force'], newEnv);
    t.is(withNew.code, 0, withNew.stderr);
    const withOld = await cli(['keys', 'rotate', '--force'], oldEnv);
    t.is(withOld.code, 1);
    t.regex(withOld.stderr, /cannot decrypt signing key \S+: wrong KEY_ENCRYPTION_KEY/);
    t.notRegex(withOld.stderr + withNew.stdout + rewrap.stdout, PRIVATE_MARKERS);
  },
);

test.serial(
  'rewrap, then a server restarted with only the new KEK serves and verifies old tokens',
  async (t) => {
    const database = await isolatedDatabase(t);
    const first = await keyServer(t, { database });
    const client = await serviceClient(first);
    const token = await clientToken(first, client);
    await first.close();

    const previous = new Uint8Array(Buffer.from(TEST_KEK, 'base64url'));
    const current = new Uint8Array(Buffer.from(NEW_KEK, 'base64url'));
    t.deepEqual(await rewrapKeys(first.services.signingKeys, current, previous), { rewrapped: 2, total: 2 });
    t.deepEqual(await rewrapKeys(first.services.signingKeys, current, previous), { rewrapped: 0, total: 2 });

    const restarted = await keyServer(t, { database, env: { KEY_ENCRYPTION_KEY: NEW_KEK } });
    t.is((await getJson(`${restarted.url}/me`, { authorization: `Bearer ${token}` })).status, 200);
    const fresh = await clientToken(restarted, client);
    t.is((await getJson(`${restarted.url}/me`, { authorization: `Bearer ${fresh}` })).status, 200);

    const err = await t.throwsAsync(startServer({ database }), { instanceOf: KeyDecryptionError });
    t.regex(err?.message ?? '', /wrong KEY_ENCRYPTION_KEY/);
  },
);
