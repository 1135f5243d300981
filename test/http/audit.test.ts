import test, { type ExecutionContext } from 'ava';
import { decodeJwt } from 'jose';
import { adminCaller, auditOf } from '../helpers/admin.js';
import { type TestServer, useServer } from '../helpers/app.js';
import {
  assertOAuthError,
  basic,
  createClient,
  createResourceServer,
  createUser,
  getJson,
  introspect,
  postForm,
  type TestClient,
} from '../helpers/oauth.js';
import { logout, refresh, revoke } from '../helpers/sessions.js';

// Serial: the tests read the whole trail of the file's database (a cursor walk, a query count),
// which must not move under them; and one PGlite serves the file.

/** A password grant sent with a request id, so its audit events can be matched to it. */
function login(s: TestServer, client: TestClient, username: string, password: string, requestId: string) {
  return postForm(
    `${s.url}/token`,
    { grant_type: 'password', username, password },
    { authorization: basic(client.client_id, client.client_secret ?? ''), 'x-request-id': requestId },
  );
}

const sidOf = (accessToken: string) => decodeJwt(accessToken).sid as string;

/** The SQL the server sends from now until the test ends (serial tests only: it hears every request). */
function recordQueries(t: ExecutionContext, s: TestServer): string[] {
  const queries: string[] = [];
  const onQuery = (q: { sql: string }) => queries.push(q.sql);
  s.services.db.on('query', onQuery);
  t.teardown(() => {
    s.services.db.off('query', onQuery);
  });
  return queries;
}

test.serial(
  'logins: succeeded and failed (with the reason) carry actor, IP, request id and subject',
  async (t) => {
    const s = await useServer(t);
    const app = await createClient(s, { name: 'app' });
    const user = await createUser(s, 'gina');
    const ok = await login(s, app, user.username, user.password, 'req-login-ok');
    t.is(ok.status, 200);
    const [succeeded] = await auditOf(s, 'login.succeeded', { username: user.username });
    t.like(succeeded, {
      actor: app.client_id,
      ip: '127.0.0.1',
      requestId: 'req-login-ok',
      username: user.username,
      userId: user.id,
      clientId: app.client_id,
      sessionId: sidOf(ok.body.access_token as string),
      detail: { method: 'password' },
    });

    await login(s, app, user.username, 'not the password', 'req-bad-pw');
    await login(s, app, 'nobody-by-this-name', 'whatever it is', 'req-unknown');
    await s.services.userAccounts.disable(user.username);
    await login(s, app, user.username, user.password, 'req-disabled');
    const failed = await auditOf(s, 'login.failed', { clientId: app.client_id });
    const byRequest = Object.fromEntries(failed.map((e) => [e.requestId, e]));
    t.like(byRequest['req-bad-pw'], {
      username: user.username,
      actor: app.client_id,
      detail: { reason: 'bad_password' },
    });
    t.like(byRequest['req-unknown'], { username: 'nobody-by-this-name', detail: { reason: 'unknown_user' } });
    t.like(byRequest['req-disabled'], { username: user.username, detail: { reason: 'disabled' } });
    // Never the password, in any event.
    const all = JSON.stringify(await s.services.audit.list({ limit: 500 }));
    for (const secret of [user.password, 'not the password', 'whatever it is', app.client_secret as string]) {
      t.false(all.includes(secret));
    }
  },
);

test.serial('a lockout is one login.locked event', async (t) => {
  const s = await useServer(t, { env: { RATE_LIMIT_LOGIN_FAILURES: '2' } });
  const app = await createClient(s, { name: 'app' });
  const user = await createUser(s, 'hank');
  await login(s, app, user.username, 'wrong one', 'r1');
  t.is((await auditOf(s, 'login.locked', { username: user.username })).length, 0);
  await login(s, app, user.username, 'wrong two', 'r2');
  const refused = await login(s, app, user.username, user.password, 'r3');
  assertOAuthError(t, refused, 429, 'rate_limited');
  const locked = await auditOf(s, 'login.locked', { username: user.username });
  t.is(locked.length, 1);
  t.like(locked[0], { requestId: 'r2', clientId: app.client_id, actor: app.client_id, ip: '127.0.0.1' });
});

test.serial('refresh reuse, revocation and logout end sessions with their reason', async (t) => {
  const s = await useServer(t);
  const app = await createClient(s, { name: 'app' });
  const user = await createUser(s, 'ivy');

  // Reuse: the family ends, in the same transaction as the event.
  const first = await login(s, app, user.username, user.password, 'a');
  const spent = first.body.refresh_token as string;
  t.is((await refresh(s, app, spent)).status, 200);
  await postForm(
    `${s.url}/token`,
    { grant_type: 'refresh_token', refresh_token: spent },
    { authorization: basic(app.client_id, app.client_secret ?? ''), 'x-request-id': 'replay' },
  );
  const sid = sidOf(first.body.access_token as string);
  const [reuse] = await auditOf(s, 'refresh.reuse_detected', { username: user.username });
  t.like(reuse, { sessionId: sid, clientId: app.client_id, requestId: 'replay', actor: app.client_id });
  const endedByReuse = (await auditOf(s, 'session.ended', { username: user.username })).find(
    (e) => e.sessionId === sid,
  );
  t.like(endedByReuse, { detail: { reason: 'refresh_reuse' }, requestId: 'replay' });

  // /revoke of a refresh token and of an access token.
  const second = await login(s, app, user.username, user.password, 'b');
  t.is((await revoke(s, app, second.body.refresh_token as string)).status, 200);
  const third = await login(s, app, user.username, user.password, 'c');
  t.is((await revoke(s, app, third.body.access_token as string)).status, 200);
  const revoked = await auditOf(s, 'token.revoked', { username: user.username });
  const refreshRevoked = revoked.find((e) => e.detail.token_type === 'refresh_token');
  t.like(refreshRevoked, { sessionId: sidOf(second.body.access_token as string), actor: app.client_id });
  const accessRevoked = revoked.find((e) => e.detail.token_type === 'access_token');
  t.like(accessRevoked, {
    sessionId: sidOf(third.body.access_token as string),
    detail: { jti: decodeJwt(third.body.access_token as string).jti as string },
  });

  // Logout.
  const fourth = await login(s, app, user.username, user.password, 'd');
  t.is(await logout(s, fourth.body.access_token as string), 204);
  const ended = await auditOf(s, 'session.ended', { username: user.username });
  const reasons = Object.fromEntries(ended.map((e) => [e.sessionId, e.detail.reason]));
  t.is(reasons[sidOf(second.body.access_token as string)], 'revoked_by_client');
  t.is(reasons[sidOf(fourth.body.access_token as string)], 'logout');

  // No token value in any event.
  const all = JSON.stringify(await s.services.audit.list({ limit: 500 }));
  for (const token of [first, second, third, fourth].flatMap((r) => [
    r.body.access_token,
    r.body.refresh_token,
  ])) {
    t.false(all.includes(token as string));
  }
});

test.serial(
  'admin changes name the acting client; GET /admin/audit filters and pages newest first',
  async (t) => {
    const s = await useServer(t);
    const admin = await adminCaller(s, 'admin');
    const h = { 'x-request-id': 'admin-req-1' };
    const user = await admin.call(
      'POST',
      '/admin/users',
      { username: 'jack', password: 'a long passphrase' },
      h,
    );
    const id = user.body.id as string;
    await admin.call('POST', `/admin/users/${id}/password`, { password: 'another long one' });
    await admin.call('POST', `/admin/users/${id}/disable`);
    const client = await admin.call('POST', '/admin/clients', {
      name: 'svc',
      grant_types: ['client_credentials'],
    });
    const cid = client.body.client_id as string;
    await admin.call('PATCH', `/admin/clients/${cid}`, { scopes: ['read', 'write'] });
    await admin.call('POST', `/admin/clients/${cid}/rotate-secret`);
    await admin.call('POST', `/admin/clients/${cid}/disable`);
    const rotated = await admin.call('POST', '/admin/keys/rotate', { force: true });
    t.is(rotated.status, 200);
    const kid = (rotated.body.keys as { kid: string; state: string }[]).find((k) => k.state === 'next')?.kid;
    await admin.call('POST', `/admin/keys/${kid}/revoke`);

    const everything = await admin.call('GET', '/admin/audit?limit=500');
    t.is(everything.status, 200);
    const events = everything.body.events as Record<string, unknown>[];
    const mine = events.filter((e) => e.actor === admin.client.client_id);
    t.deepEqual(
      mine.map((e) => e.type).reverse(),
      [
        'user.created',
        'user.password_changed',
        'user.disabled',
        'client.created',
        'client.updated',
        'client.secret_rotated',
        'client.disabled',
        'key.rotated',
        'key.revoked',
      ],
      'newest first, every change once',
    );
    t.like(mine.at(-1), { request_id: 'admin-req-1', ip: '127.0.0.1', username: 'jack' });
    t.like(
      mine.find((e) => e.type === 'client.updated'),
      { client_id: cid, detail: { fields: ['scopes'] } },
    );
    t.like(
      mine.find((e) => e.type === 'key.revoked'),
      { kid },
    );
    t.deepEqual(Object.keys(events[0] ?? {}).sort(), [
      'actor',
      'at',
      'client_id',
      'detail',
      'id',
      'ip',
      'kid',
      'request_id',
      'session_id',
      'type',
      'username',
    ]);
    const text = everything.text;
    t.false(text.includes(client.body.client_secret as string));
    t.false(/long passphrase|another long one/.test(text));

    // Filters.
    const byType = await admin.call('GET', '/admin/audit?type=client.updated');
    t.deepEqual(
      (byType.body.events as { type: string }[]).map((e) => e.type),
      ['client.updated'],
    );
    const byUser = await admin.call('GET', '/admin/audit?username=jack');
    t.true((byUser.body.events as { username: string }[]).every((e) => e.username === 'jack'));
    t.true((byUser.body.events as unknown[]).length >= 3);
    const byClient = await admin.call('GET', `/admin/audit?client_id=${cid}`);
    t.true((byClient.body.events as { client_id: string }[]).every((e) => e.client_id === cid));
    const future = new Date(Date.now() + 3600_000).toISOString();
    t.deepEqual((await admin.call('GET', `/admin/audit?since=${future}`)).body, { events: [] });
    t.is(
      ((await admin.call('GET', `/admin/audit?until=${future}&limit=500`)).body.events as unknown[]).length,
      events.length,
    );

    // Cursor: pages of 2 walk the whole trail once, newest first.
    const ids: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await admin.call('GET', `/admin/audit?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      ids.push(...(page.body.events as { id: string }[]).map((e) => Number(e.id)));
      cursor = page.body.next_cursor as string | undefined;
    } while (cursor);
    t.deepEqual(
      ids,
      events.map((e) => Number(e.id)),
    );
    t.deepEqual(
      ids,
      [...ids].sort((a, b) => b - a),
    );

    for (const q of ['type=nope', 'since=yesterday', 'until=2026-13-01T00:00:00Z', 'limit=0', 'cursor=xyz']) {
      assertOAuthError(t, await admin.call('GET', `/admin/audit?${q}`), 422, 'invalid_request');
    }
  },
);

test.serial('introspection and JWKS write nothing to the audit trail and add no query for it', async (t) => {
  // Serial: the query listener hears only this test's requests.
  const s = await useServer(t);
  const app = await createClient(s, { name: 'app', grantTypes: ['client_credentials'] });
  const rs = await createResourceServer(s, ['http://tessera.test']);
  const token = (
    await postForm(
      `${s.url}/token`,
      { grant_type: 'client_credentials' },
      {
        authorization: basic(app.client_id, app.client_secret ?? ''),
      },
    )
  ).body.access_token as string;
  const queries = recordQueries(t, s);
  for (let i = 0; i < 3; i++) {
    t.is((await introspect(s, rs, token)).body.active, true);
    t.is((await introspect(s, rs, 'not-a-token')).body.active, false);
    t.is((await getJson(`${s.url}/.well-known/jwks.json`)).status, 200);
  }
  t.false(
    queries.some((q) => q.includes('audit_events')),
    queries.join('\n'),
  );
});

test.serial(
  'a password login audits login.succeeded in the transaction that starts its session',
  async (t) => {
    // Serial: the query listener hears only this test's requests. The row and the family commit
    // together (a crash between two commits would leave a session without its login in the trail),
    // and the login pays no round trip of its own for the audit row.
    const s = await useServer(t);
    const app = await createClient(s, { name: 'app' });
    const user = await createUser(s, 'hana');
    const queries = recordQueries(t, s);
    const ok = await login(s, app, user.username, user.password, 'req-login-txn');
    t.is(ok.status, 200);
    const begin = queries.findIndex((q) => /^begin/i.test(q));
    const commit = queries.findIndex((q) => /^commit/i.test(q));
    const audits = queries.flatMap((q, i) => (q.includes('insert into "audit_events"') ? [i] : []));
    t.true(begin >= 0 && commit > begin, queries.join('\n'));
    t.is(audits.length, 1, queries.join('\n'));
    t.true((audits[0] as number) > begin && (audits[0] as number) < commit, queries.join('\n'));
    const [succeeded] = await auditOf(s, 'login.succeeded', { username: user.username });
    t.like(succeeded, { requestId: 'req-login-txn', sessionId: sidOf(ok.body.access_token as string) });
  },
);
