import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import test from 'ava';
import { createApp } from '../../src/app.js';
import { connectDatabase } from '../../src/db/connect.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { StoreError } from '../../src/errors.js';
import { requestStamp } from '../../src/facts/stamp.js';
import type { AuditEvent } from '../../src/stores/types.js';
import { adminCaller, auditOf } from '../helpers/admin.js';
import { type TestServer, useServer } from '../helpers/app.js';
import {
  authorizationRequest,
  CookieJar,
  createCodeClient,
  getAuthorize,
  hiddenFields,
  postAuthorize,
  REDIRECT_URI,
} from '../helpers/authorize.js';
import { basic, clientCredentials, createClient, createUser, postForm } from '../helpers/oauth.js';
import { postgresBinDir, ThrowawayPostgres } from '../helpers/throwaway_postgres.js';

// Serial: the first test counts the statements of one request on the file's database.

/**
 * Spies on the per-request insert of the facts writer the app holds (the real, guarded Postgres
 * writer, src/stores/postgres/facts.ts): each call is one request's audit rows.
 */
function spyOnTrail(s: TestServer, before: (rows: readonly AuditEvent[]) => Promise<void> = async () => {}) {
  const writer = s.services.facts;
  const real = writer.write.bind(writer);
  const calls: (readonly AuditEvent[])[] = [];
  writer.write = async (rows, facts) => {
    calls.push(rows);
    await before(rows);
    return real(rows, facts);
  };
  return calls;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test.serial('the facts of one request without a transaction are written in one audit insert', async (t) => {
  const s = await useServer(t);
  // One request that makes three changes through the real account service, each recording its
  // fact the way every domain module does (facts.record with the request's stamp); mounted behind
  // the app's own front steps, per-request writer included.
  const router = new Router();
  router.post('/three-changes', async (ctx) => {
    const stamp = requestStamp(ctx, 'ops-client');
    await s.services.userAccounts.create('ada', 'correct horse battery', [], stamp);
    await s.services.userAccounts.create('bob', 'correct horse battery', [], stamp);
    await s.services.userAccounts.setPassword('ada', 'another horse battery', stamp);
    ctx.body = { ok: true };
  });
  const server = createApp(s.services, { router }).listen(0, '127.0.0.1');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = await listen(server);

  const calls = spyOnTrail(s);
  const inserts: string[] = [];
  const onQuery = (q: { sql: string }) => {
    if (/insert into "audit_events"/i.test(q.sql)) inserts.push(q.sql);
  };
  s.services.db.on('query', onQuery);
  t.teardown(() => {
    s.services.db.off('query', onQuery);
  });
  const res = await fetch(`${url}/three-changes`, {
    method: 'POST',
    headers: { 'x-request-id': 'req-three' },
  });
  t.is(res.status, 200);

  t.is(calls.length, 1, 'one per-request insert');
  t.deepEqual(
    calls[0]?.map((r) => r.type),
    ['user.created', 'user.created', 'user.password_changed'],
  );
  t.is(inserts.length, 1, inserts.join('\n'));
  // In the real table, stamped with the request, and written before the answer arrived.
  const rows = (await s.services.audit.list({ limit: 10 })).events.filter((e) => e.requestId === 'req-three');
  t.is(rows.length, 3);
  for (const row of rows) t.like(row, { actor: 'ops-client', ip: '127.0.0.1', requestId: 'req-three' });

  // The same change outside a request (the CLI, the schedule) is still written at once, alone:
  // in its own transaction, not through the per-request insert.
  await s.services.userAccounts.create('cy', 'correct horse battery', []);
  t.is(calls.length, 1);
  t.is(inserts.length, 2);
});

test.serial('the app route of an admin change writes its row before the 201', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:users');
  const calls = spyOnTrail(s);
  const res = await admin.call(
    'POST',
    '/admin/users',
    { username: 'dora', password: 'correct horse battery' },
    {
      'x-request-id': 'req-dora',
    },
  );
  t.is(res.status, 201, res.text);
  t.is(calls.length, 1);
  const [created] = await auditOf(s, 'user.created', { username: 'dora' });
  t.like(created, { requestId: 'req-dora', actor: admin.client.client_id });
});

test.serial(
  'a revocation whose audit insert fails still blocks the token at once (the denylist cache is not deferred)',
  async (t) => {
    const s = await useServer(t);
    const app = await createClient(s, { name: 'svc', grantTypes: ['client_credentials'] });
    const token = (await clientCredentials(s, app)).body.access_token as string;
    const me = () => fetch(`${s.url}/me`, { headers: { authorization: `Bearer ${token}` } });
    t.is((await me()).status, 200);
    // The revocation's durable row is written; the request's one audit insert then fails.
    const writer = s.services.facts;
    const real = writer.write.bind(writer);
    writer.write = async () => {
      writer.write = real;
      throw new StoreError('unavailable', 'audit insert failed (test)', { dependency: 'database' });
    };
    const revoked = await postForm(
      `${s.url}/revoke`,
      { token },
      { authorization: basic(app.client_id, app.client_secret ?? '') },
    );
    t.is(revoked.status, 503);
    // Durable, so it must hold everywhere now: not only after the next rebuild of the cache.
    t.is((await me()).status, 401);
  },
);

const bin = postgresBinDir();

(bin ? test.serial : test.skip)(
  'a failed audit insert fails the request (503; at /authorize its error redirect): no silent success, no cookie, no code [needs PostgreSQL binaries]',
  async (t) => {
    const pg = new ThrowawayPostgres(bin as string);
    t.teardown(() => pg.destroy());
    await pg.init();
    await pg.start();
    const db = connectDatabase({ url: pg.url, dataDir: null });
    await migrateLatest(db);
    const s = await useServer(t, { database: { db, url: pg.url, drop: () => db.destroy() } });
    const admin = await adminCaller(s, 'admin');
    const app = await createClient(s, { name: 'app', grantTypes: ['password'] });
    const browser = await createCodeClient(s);
    const user = await createUser(s, 'erin');
    // The database goes away after the change, as its audit row is about to be written.
    let stopBefore: string | undefined;
    spyOnTrail(s, async (rows) => {
      if (stopBefore && rows.some((r) => r.type === stopBefore)) {
        stopBefore = undefined;
        await pg.stop();
      }
    });
    const restart = async () => {
      await pg.start();
      for (let i = 0; i < 50; i++) {
        if ((await admin.call('GET', '/admin/users?limit=1')).status === 200) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      t.fail('the database did not come back');
    };
    const unavailable = (status: number, body: Record<string, unknown>, retryAfter: string | null) => {
      t.is(status, 503, JSON.stringify(body));
      t.is(body.error, 'temporarily_unavailable');
      t.truthy(retryAfter);
    };

    // An admin change: 503, not 201 (and not 500).
    stopBefore = 'user.created';
    const created = await admin.call('POST', '/admin/users', {
      username: 'fay',
      password: 'correct horse battery',
    });
    unavailable(created.status, created.body, created.headers.get('retry-after'));
    await restart();

    // A refusal whose row cannot be written: 503, not the 400 that would hide the missing row.
    stopBefore = 'login.failed';
    const refused = await postForm(
      `${s.url}/token`,
      { grant_type: 'password', username: user.username, password: 'not the password' },
      { authorization: basic(app.client_id, app.client_secret ?? '') },
    );
    unavailable(refused.status, refused.body, refused.headers.get('retry-after'));
    await restart();

    // The login page: the login session exists, but the browser gets neither its cookie nor a
    // code; the page answers the outage as it answers any, back to the client (RFC 6749 §4.1.2.1).
    const jar = new CookieJar();
    const page = await getAuthorize(s, authorizationRequest(browser.client_id).params, jar);
    t.is(page.status, 200);
    stopBefore = 'login.succeeded';
    const seen = jar.setCookies.length;
    const signIn = await postAuthorize(
      s,
      { ...hiddenFields(page.html), username: user.username, password: user.password },
      jar,
    );
    t.is(signIn.status, 303, signIn.html);
    t.deepEqual(jar.setCookies.slice(seen), []);
    const back = new URL(signIn.location ?? 'about:blank');
    t.is(`${back.origin}${back.pathname}`, REDIRECT_URI);
    t.is(back.searchParams.get('error'), 'temporarily_unavailable');
    t.is(back.searchParams.get('code'), null);
    await restart();
  },
);
