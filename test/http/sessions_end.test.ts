import test, { type ExecutionContext } from 'ava';
import { CLIENT_CACHE_TTL_MS } from '../../src/stores/cached_clients.js';
import { TEST_KEK, testClock, useServer } from '../helpers/app.js';
import { cliOn, cli as runCliCaptured } from '../helpers/cli.js';
import {
  assertOAuthError,
  clientCredentials,
  createClient,
  createUser,
  passwordLogin,
} from '../helpers/oauth.js';
import { me, refresh } from '../helpers/sessions.js';

type Server = Awaited<ReturnType<typeof useServer>>;

/**
 * Runs a CLI command: through runCli against the test database on real Postgres; on PGlite the
 * in-memory database belongs to the server's process, so the command runs on its services.
 */
async function cli(s: Server & { database: { url: string | undefined } }, argv: string[], stdin = '') {
  if (s.database.url) {
    const { code, stdout, stderr } = await runCliCaptured(
      [...argv, '--json'],
      {
        DATABASE_URL: s.database.url,
        KEY_ENCRYPTION_KEY: TEST_KEK,
        ISSUER: 'http://tessera.test',
        LOG_LEVEL: 'silent',
        // The CLI shares the server's Redis (and key prefix), as an operator's would.
        ...(s.services.config.redisUrl
          ? { REDIS_URL: s.services.config.redisUrl, REDIS_KEY_PREFIX: s.services.config.redisKeyPrefix }
          : {}),
      },
      stdin,
    );
    t_assert(code === 0, `exit ${code}: ${stderr}`);
    // Another process wrote the revocations: this server learns them from its denylist store.
    const { MemoryDenylist } = await import('../../src/stores/memory/denylist.js');
    if (s.services.denylist instanceof MemoryDenylist) await s.services.denylist.load();
    return JSON.parse(stdout) as Record<string, unknown>;
  }
  return cliOn(s.services, argv, stdin);
}

function t_assert(ok: boolean, message: string) {
  if (!ok) throw new Error(message);
}

async function twoSessions(s: Server) {
  const client = await createClient(s, { name: 'app' });
  const user = await createUser(s);
  const a = await passwordLogin(s, client, user.username, user.password);
  const b = await passwordLogin(s, client, user.username, user.password);
  const bystander = await createUser(s);
  const c = await passwordLogin(s, client, bystander.username, bystander.password);
  return { client, user, sessions: [a.body, b.body], bystander: c.body };
}

async function assertEnded(t: ExecutionContext, s: Server, setup: Awaited<ReturnType<typeof twoSessions>>) {
  for (const body of setup.sessions) {
    t.is((await me(s, body.access_token as string)).status, 401);
    assertOAuthError(t, await refresh(s, setup.client, body.refresh_token as string), 400, 'invalid_grant');
  }
  t.is((await me(s, setup.bystander.access_token as string)).status, 200);
  t.is((await refresh(s, setup.client, setup.bystander.refresh_token as string)).status, 200);
}

test('users disable ends all of the user’s sessions', async (t) => {
  const s = await useServer(t);
  const setup = await twoSessions(s);
  await cli(s, ['users', 'disable', '--username', setup.user.username]);
  await assertEnded(t, s, setup);
});

test('users set-password ends all of the user’s sessions; the new password logs in', async (t) => {
  const s = await useServer(t);
  const setup = await twoSessions(s);
  await cli(s, ['users', 'set-password', '--username', setup.user.username], 'a brand new passphrase\n');
  await assertEnded(t, s, setup);
  const again = await passwordLogin(s, setup.client, setup.user.username, 'a brand new passphrase');
  t.is(again.status, 200);
  t.is((await me(s, again.body.access_token as string)).status, 200);
});

test('sessions revoke --username ends every session and reports how many', async (t) => {
  const s = await useServer(t);
  const setup = await twoSessions(s);
  const result = await cli(s, ['sessions', 'revoke', '--username', setup.user.username]);
  t.is(result.sessions_revoked, 2);
  t.is(result.username, setup.user.username);
  await assertEnded(t, s, setup);
  // The user may log in again.
  t.is((await passwordLogin(s, setup.client, setup.user.username, setup.user.password)).status, 200);
});

test('sessions revoke of an unknown user fails clearly', async (t) => {
  const s = await useServer(t);
  await t.throwsAsync(() => cli(s, ['sessions', 'revoke', '--username', 'nobody-at-all']));
});

test("a disabled client's refresh tokens and live access tokens stop working", async (t) => {
  const clock = testClock();
  const s = await useServer(t, { now: clock.now });
  const client = await createClient(s, {
    name: 'doomed',
    grantTypes: ['password', 'refresh_token', 'client_credentials'],
  });
  const user = await createUser(s);
  const login = await passwordLogin(s, client, user.username, user.password);
  const cc = await clientCredentials(s, client);
  t.is((await me(s, cc.body.access_token as string)).status, 200);
  await cli(s, ['clients', 'disable', '--client-id', client.client_id]);
  // Session tokens stop at once everywhere (sid denylist)...
  t.is((await me(s, login.body.access_token as string)).status, 401);
  // ...sessionless ones at once on the instance that disabled the client, elsewhere within the
  // client-status cache bound (the CLI is "elsewhere" on real Postgres).
  clock.advance(CLIENT_CACHE_TTL_MS / 1000 + 1);
  t.is((await me(s, cc.body.access_token as string)).status, 401);
  // The disabled client cannot even authenticate to refresh.
  assertOAuthError(t, await refresh(s, client, login.body.refresh_token as string), 401, 'invalid_client');
  const family = await s.services.db('refresh_families').where({ client_id: client.client_id }).first();
  t.is(family.revoked_reason, 'client_disabled');
});
