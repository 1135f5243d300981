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
