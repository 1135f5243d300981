import test, { type ExecutionContext } from 'ava';
import { cli, cliEnv } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/database.js';

/** Its own database (or embedded data dir): the trail this file reads is its own. */
async function envFor(t: ExecutionContext): Promise<Record<string, string>> {
  if (!process.env.DATABASE_URL) return cliEnv(t, undefined, { ISSUER: 'http://tessera.test' });
  const database = await createTestDatabase();
  t.teardown(() => database.drop());
  return cliEnv(t, database, { ISSUER: 'http://tessera.test' });
}

async function json(env: Record<string, string>, argv: string[], stdin = '') {
  const r = await cli([...argv, '--json'], env, stdin);
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

test('every CLI change is an audit event with actor "cli"; audit list filters and pages', async (t) => {
  const env = await envFor(t);
  await json(env, ['migrate']);
  const user = await json(env, ['users', 'create', '--username', 'kim'], 'a long cli passphrase\n');
  await json(env, ['users', 'set-password', '--username', 'kim'], 'another cli passphrase\n');
  await json(env, ['users', 'disable', '--username', 'kim']);
  const client = await json(env, ['clients', 'create', '--name', 'svc', '--grants', 'client_credentials']);
  await json(env, ['clients', 'disable', '--client-id', client.client_id as string]);
  await json(env, ['sessions', 'revoke', '--username', 'kim']);
  await json(env, ['keys', 'rotate', '--force']);

  const all = (await json(env, ['audit', 'list', '--limit', '500'])).events as Record<string, unknown>[];
  t.deepEqual(all.map((e) => e.type).reverse(), [
    'user.created',
    'user.password_changed',
    'user.disabled',
    'client.created',
    'client.disabled',
    'key.rotated',
  ]);
  for (const e of all) t.like(e, { actor: 'cli', ip: null, request_id: null });
  t.like(all.at(-1), { username: 'kim' });
  t.is(all.find((e) => e.type === 'user.created')?.username, user.username);
  t.false(JSON.stringify(all).includes('passphrase'));
  t.false(JSON.stringify(all).includes(client.client_secret as string));

  const typed = (await json(env, ['audit', 'list', '--type', 'user.disabled'])).events as unknown[];
  t.is(typed.length, 1);
  const byUser = (await json(env, ['audit', 'list', '--username', 'kim'])).events as unknown[];
  t.is(byUser.length, 3);
  const byClient = (await json(env, ['audit', 'list', '--client-id', client.client_id as string])).events;
  t.is((byClient as unknown[]).length, 2);
  t.is(((await json(env, ['audit', 'list', '--since', '1h'])).events as unknown[]).length, all.length);
  t.deepEqual((await json(env, ['audit', 'list', '--since', '2999-01-01T00:00:00Z'])).events, []);
  const first = await json(env, ['audit', 'list', '--limit', '4']);
  t.is((first.events as unknown[]).length, 4);
  const rest = await json(env, ['audit', 'list', '--limit', '4', '--cursor', first.next_cursor as string]);
  t.is((rest.events as unknown[]).length, all.length - 4);
  t.is(rest.next_cursor, undefined);

  for (const bad of [
    ['--type', 'nope'],
    ['--limit', '0'],
    ['--since', 'yesterday'],
    ['--cursor', 'x'],
  ]) {
    const r = await cli(['audit', 'list', ...bad], env);
    t.is(r.code, 2, bad.join(' '));
    t.regex(r.stderr, /usage: tessera audit list/);
  }
});

test('users list, sessions list and clients rotate-secret: no hash, the new secret once, audited', async (t) => {
  const env = await envFor(t);
  await json(env, ['migrate']);
  await json(env, ['users', 'create', '--username', 'lena'], 'a long cli passphrase\n');
  const listed = await json(env, ['users', 'list']);
  const users = listed.users as Record<string, unknown>[];
  t.true(users.some((u) => u.username === 'lena'));
  t.false(JSON.stringify(listed).includes('argon2'));
  t.deepEqual((await json(env, ['sessions', 'list', '--username', 'lena'])).sessions, []);
  const client = await json(env, ['clients', 'create', '--name', 'svc', '--grants', 'client_credentials']);
  const rotated = await json(env, ['clients', 'rotate-secret', '--client-id', client.client_id as string]);
  t.is(rotated.client_id, client.client_id);
  t.regex(rotated.client_secret as string, /^[A-Za-z0-9_-]{43}$/);
  t.not(rotated.client_secret, client.client_secret);
  const [event] = (await json(env, ['audit', 'list', '--type', 'client.secret_rotated'])).events as Record<
    string,
    unknown
  >[];
  t.like(event, { actor: 'cli', client_id: client.client_id });
  const unknown = await cli(['clients', 'rotate-secret', '--client-id', 'c_nope'], env);
  t.is(unknown.code, 1);
});
