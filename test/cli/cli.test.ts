import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { cli, cliEnv } from '../helpers/cli.js';
import { createTestDatabase, fileDatabase } from '../helpers/database.js';

/** The CLI against the file's Postgres database, or its own embedded data dir without one. */
async function envFor(t: ExecutionContext): Promise<Record<string, string>> {
  const database = process.env.DATABASE_URL ? await fileDatabase() : undefined;
  return cliEnv(t, database, { ISSUER: 'http://tessera.test' });
}

async function run(e: Record<string, string>, argv: string[], stdin = '') {
  const r = await cli(argv, e, stdin);
  return { code: r.code, out: r.stdout, err: r.stderr };
}

test.serial('users create reads the password from stdin and prints {id, username}', async (t) => {
  const env = await envFor(t);
  t.is((await run(env, ['migrate', '--json'])).code, 0);
  const r = await run(
    env,
    ['users', 'create', '--username', 'carol', '--roles', 'admin,ops', '--json'],
    'hunter2hunter2\n',
  );
  t.is(r.code, 0, r.err);
  const body = JSON.parse(r.out);
  t.deepEqual(Object.keys(body).sort(), ['id', 'username']);
  t.is(body.username, 'carol');
  t.false(r.out.includes('hunter2'));
  const dup = await run(env, ['users', 'create', '--username', 'carol', '--json'], 'hunter2hunter2\n');
  t.is(dup.code, 1);
  t.regex(dup.err, /exists/);
  const weak = await run(env, ['users', 'create', '--username', 'dave'], 'short\n');
  t.is(weak.code, 1);
  t.regex(weak.err, /at least 8/);
  t.is((await run(env, ['users', 'disable', '--username', 'carol', '--json'])).code, 0);
  t.is((await run(env, ['users', 'set-password', '--username', 'carol'], 'another-password\n')).code, 0);
  t.is((await run(env, ['users', 'disable', '--username', 'nobody'])).code, 1);
});

test.serial('clients create, list and disable', async (t) => {
  const env = await envFor(t);
  await run(env, ['migrate']);
  const created = await run(env, [
    'clients',
    'create',
    '--name',
    'Billing',
    '--grants',
    'client_credentials',
    '--scopes',
    'read write',
    '--audience',
    'https://api.example.com',
    '--audience',
    'https://billing.example.com',
    '--introspect',
    '--json',
  ]);
  t.is(created.code, 0, created.err);
  const c = JSON.parse(created.out);
  t.regex(c.client_id, /^c_/);
  t.is(Buffer.from(c.client_secret, 'base64url').length, 32, '256-bit secret');

  const pub = JSON.parse((await run(env, ['--json', 'clients', 'create', '--name', 'SPA', '--public'])).out);
  // An admin flag without client_credentials could never be used (docs/cli.md): refused.
  const idleAdmin = await run(env, ['clients', 'create', '--name', 'Ops', '--admin']);
  t.is(idleAdmin.code, 1);
  t.regex(idleAdmin.err, /client_credentials/);
  t.false('client_secret' in pub);

  const listed = await run(env, ['clients', 'list', '--json']);
  t.is(listed.code, 0);
  const { clients } = JSON.parse(listed.out) as { clients: Record<string, unknown>[] };
  const billing = clients.find((x) => x.client_id === c.client_id);
  t.deepEqual(billing?.grant_types, ['client_credentials']);
  t.deepEqual(billing?.audiences, ['https://api.example.com', 'https://billing.example.com']);
  t.is(billing?.introspect, true);
  t.false(listed.out.includes(c.client_secret), 'secrets never listed');
  t.false(/secret_hash|secretHash/.test(listed.out));

  const pubRecord = clients.find((x) => x.client_id === pub.client_id);
  t.deepEqual(pubRecord?.grant_types, ['password', 'refresh_token']);
  t.deepEqual(pubRecord?.scopes, ['read']);
  t.deepEqual(pubRecord?.audiences, ['http://tessera.test']);

  t.is((await run(env, ['clients', 'disable', '--client-id', c.client_id, '--json'])).code, 0);
  const after = JSON.parse((await run(env, ['clients', 'list', '--json'])).out) as {
    clients: Record<string, unknown>[];
  };
  t.is(after.clients.find((x) => x.client_id === c.client_id)?.disabled, true);
  t.is((await run(env, ['clients', 'disable', '--client-id', 'c_nope'])).code, 1);
});

test.serial('usage errors exit non-zero with the reason on stderr', async (t) => {
  const env = await envFor(t);
  const unknown = await run(env, ['frobnicate']);
  t.is(unknown.code, 2);
  t.regex(unknown.err, /unknown command/);
  const missing = await run(env, ['users', 'create']);
  t.is(missing.code, 2);
  t.regex(missing.err, /--username is required/);
  const badGrant = await run(env, ['clients', 'create', '--name', 'x', '--grants', 'implicit']);
  t.is(badGrant.code, 2);
  const badFlag = await run(env, ['clients', 'list', '--bogus']);
  t.is(badFlag.code, 2);
  const help = await run(env, ['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /clients create/);
  const badEnv = await run({ ...env, SIGNING_ALG: 'HS256' }, ['clients', 'list']);
  t.is(badEnv.code, 1);
  t.regex(badEnv.err, /SIGNING_ALG/);
});

test.serial('embedded: the CLI refuses a data dir held by a running server', async (t) => {
  if (process.env.DATABASE_URL) {
    t.pass('real Postgres: no single-process lock applies');
    return;
  }
  const env = await envFor(t);
  const { lockEmbeddedDatabase } = await import('../../src/db/embedded_lock.js');
  // Pretend another live process (our parent) holds it.
  const { writeFileSync, mkdirSync } = await import('node:fs');
  mkdirSync(env.DATA_DIR as string, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(env.DATA_DIR as string, 'tessera.lock'), String(process.ppid));
  const r = await run(env, ['clients', 'list']);
  t.is(r.code, 1);
  t.regex(r.err, /in use by process/);
  // A stale lock (dead pid) is taken over.
  writeFileSync(path.join(env.DATA_DIR as string, 'tessera.lock'), '999999');
  const release = lockEmbeddedDatabase(env.DATA_DIR as string);
  release();
});

test.serial(
  'production refuses to run on an unmigrated database; migrate reports what it applied',
  async (t) => {
    let env: Record<string, string>;
    if (process.env.DATABASE_URL) {
      const empty = await createTestDatabase({ migrate: false });
      t.teardown(() => empty.drop());
      env = cliEnv(t, empty, { ISSUER: 'http://tessera.test' });
      const refused = await run(env, ['clients', 'list']);
      t.is(refused.code, 1);
      t.regex(refused.err, /pending migration\(s\): run `tessera migrate` first/);
    } else {
      env = await envFor(t);
    }
    const migrated = await run(env, ['migrate', '--json']);
    t.is(migrated.code, 0, migrated.err);
    const { applied } = JSON.parse(migrated.out) as { applied: string[] };
    t.true(applied.length >= 5, `applied: ${applied}`);
    t.deepEqual(JSON.parse((await run(env, ['migrate', '--json'])).out), { applied: [] });
    t.is((await run(env, ['clients', 'list'])).code, 0);
  },
);
