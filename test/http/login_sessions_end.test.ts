import test, { type ExecutionContext } from 'ava';
import { adminCaller, auditOf } from '../helpers/admin.js';
import { useServer } from '../helpers/app.js';
import {
  authorizationRequest,
  CookieJar,
  createCodeClient,
  getAuthorize,
  REDIRECT_URI,
  signIn,
} from '../helpers/authorize.js';
import { cliOn } from '../helpers/cli.js';
import { basic, createUser, passwordLogin, postForm } from '../helpers/oauth.js';
import { me } from '../helpers/sessions.js';

/**
 * Ending a user's sessions ends the browser's sign-in at /authorize too (docs/sessions.md): the
 * next /authorize asks for the password again, prompt=none gets login_required, and the session
 * lists show login sessions with `kind: "login"`.
 */

type Server = Awaited<ReturnType<typeof useServer>>;
type Client = Awaited<ReturnType<typeof createCodeClient>>;

/** A user signed in at /authorize in `jar`, and the tokens of the code that sign-in gave. */
async function signedInBrowser(s: Server, client: Client) {
  const user = await createUser(s);
  const request = authorizationRequest(client.client_id);
  const jar = new CookieJar();
  const res = await signIn(s, request.params, user, jar);
  const tokens = await postForm(
    `${s.url}/token`,
    {
      grant_type: 'authorization_code',
      code: res.query.get('code') as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: request.pair.verifier,
    },
    { authorization: basic(client.client_id, client.client_secret as string) },
  );
  if (tokens.status !== 200) throw new Error(JSON.stringify(tokens.body));
  return { user, jar, tokens: tokens.body };
}

/** What /authorize answers the browser now: a code without a password, or not. */
async function authorizeAgain(s: Server, client: Client, jar: CookieJar, prompt?: 'none') {
  const { params } = authorizationRequest(client.client_id, prompt ? { prompt } : {});
  const res = await getAuthorize(s, params, jar);
  const query = res.location ? new URL(res.location).searchParams : undefined;
  return { status: res.status, code: query?.get('code') ?? null, error: query?.get('error') ?? null };
}

async function assertSignedOut(t: ExecutionContext, s: Server, client: Client, jar: CookieJar) {
  const page = await authorizeAgain(s, client, jar);
  t.is(page.status, 200, 'the login page, not a code');
  t.is(page.code, null);
  const silent = await authorizeAgain(s, client, jar, 'none');
  t.is(silent.error, 'login_required');
  t.is(silent.code, null);
}

async function assertSignedIn(t: ExecutionContext, s: Server, client: Client, jar: CookieJar) {
  const silent = await authorizeAgain(s, client, jar, 'none');
  t.truthy(silent.code, 'the login session still issues a code without a password');
}

test('DELETE /admin/users/{id}/sessions ends the login session of /authorize too', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:users');
  const client = await createCodeClient(s);
  const victim = await signedInBrowser(s, client);
  const bystander = await signedInBrowser(s, client);
  await assertSignedIn(t, s, client, victim.jar);

  const ended = await admin.call('DELETE', `/admin/users/${victim.user.id}/sessions`);
  t.is(ended.status, 200);
  t.is(ended.body.sessions_ended, 2, 'one refresh family and one login session');
  await assertSignedOut(t, s, client, victim.jar);
  t.is((await me(s, victim.tokens.access_token as string)).status, 401);
  await assertSignedIn(t, s, client, bystander.jar);
  const audit = await auditOf(s, 'session.ended', { username: victim.user.username });
  t.true(audit.some((e) => e.detail.kind === 'login' && e.detail.reason === 'admin_revoked'));
});

test('sessions revoke (CLI) ends the login session of /authorize too', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const victim = await signedInBrowser(s, client);
  const result = await cliOn(s.services, ['sessions', 'revoke', '--username', victim.user.username]);
  t.is(result.sessions_revoked, 2);
  await assertSignedOut(t, s, client, victim.jar);
});

test('disable and password change end the login session: its row is gone', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const disabled = await signedInBrowser(s, client);
  const changed = await signedInBrowser(s, client);
  await s.services.userAccounts.disable({ id: disabled.user.id });
  await s.services.userAccounts.setPassword({ id: changed.user.id }, 'another long passphrase');
  for (const { user, jar } of [disabled, changed]) {
    t.is((await s.services.db('login_sessions').where({ user_id: user.id })).length, 0);
    await assertSignedOut(t, s, client, jar);
  }
});

test('session lists show login sessions, marked with kind', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:users');
  const client = await createCodeClient(s);
  const { user } = await signedInBrowser(s, client);
  const listed = await admin.call('GET', `/admin/users/${user.id}/sessions`);
  t.is(listed.status, 200);
  const sessions = listed.body.sessions as Record<string, unknown>[];
  t.deepEqual(sessions.map((x) => x.kind).sort(), ['login', 'refresh']);
  const login = sessions.find((x) => x.kind === 'login') as Record<string, unknown>;
  t.is(login.client_id, null);
  t.is(login.last_used_at, null);
  t.is(typeof login.expires_at, 'string');
  const refresh = sessions.find((x) => x.kind === 'refresh') as Record<string, unknown>;
  t.is(refresh.client_id, client.client_id);

  const cli = (await cliOn(s.services, ['sessions', 'list', '--username', user.username])) as {
    sessions: Record<string, unknown>[];
  };
  t.deepEqual(cli.sessions, sessions, 'the CLI lists the same sessions in the same shape');
});

test('DELETE /admin/sessions/{sid} of a family from a code ends the login session it came from', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:users');
  const client = await createCodeClient(s);
  const browser = await signedInBrowser(s, client);
  const sid = JSON.parse(
    Buffer.from((browser.tokens.access_token as string).split('.')[1] ?? '', 'base64url').toString(),
  ).sid as string;
  t.is((await admin.call('DELETE', `/admin/sessions/${sid}`)).status, 204);
  await assertSignedOut(t, s, client, browser.jar);
  t.is((await me(s, browser.tokens.access_token as string)).status, 401);
});

test('DELETE /admin/sessions/{id} of a login session ends only it; a password family lives on', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:users');
  const client = await createCodeClient(s, {
    grantTypes: ['authorization_code', 'refresh_token', 'password'],
  });
  const browser = await signedInBrowser(s, client);
  const other = await passwordLogin(s, client, browser.user.username, browser.user.password);
  const listed = await admin.call('GET', `/admin/users/${browser.user.id}/sessions`);
  const login = (listed.body.sessions as Record<string, unknown>[]).find((x) => x.kind === 'login');
  t.truthy(login);
  t.is((await admin.call('DELETE', `/admin/sessions/${login?.session_id}`)).status, 204);
  await assertSignedOut(t, s, client, browser.jar);
  t.is((await me(s, other.body.access_token as string)).status, 200);
  t.is((await admin.call('DELETE', `/admin/sessions/${login?.session_id}`)).status, 404, 'gone');
});
