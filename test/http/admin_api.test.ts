import { randomUUID } from 'node:crypto';
import test from 'ava';
import { sha256 } from '../../src/tokens/secrets.js';
import { adminCaller, auditOf, bearerCall } from '../helpers/admin.js';
import { useServer } from '../helpers/app.js';
import { clientToken } from '../helpers/keys.js';
import {
  assertOAuthError,
  clientCredentials,
  createClient,
  createUser,
  passwordLogin,
} from '../helpers/oauth.js';
import { me } from '../helpers/sessions.js';

/** Every admin route with the area scope it needs (docs/admin.md). */
const ROUTES: [method: string, path: string, scope: string][] = [
  ['GET', '/admin/keys', 'admin:keys'],
  ['POST', '/admin/keys/rotate', 'admin:keys'],
  ['POST', '/admin/keys/KID/revoke', 'admin:keys'],
  ['GET', '/admin/clients', 'admin:clients'],
  ['POST', '/admin/clients', 'admin:clients'],
  ['GET', '/admin/clients/ID', 'admin:clients'],
  ['PATCH', '/admin/clients/ID', 'admin:clients'],
  ['POST', '/admin/clients/ID/disable', 'admin:clients'],
  ['POST', '/admin/clients/ID/rotate-secret', 'admin:clients'],
  ['GET', '/admin/users', 'admin:users'],
  ['POST', '/admin/users', 'admin:users'],
  ['GET', '/admin/users/ID', 'admin:users'],
  ['POST', '/admin/users/ID/disable', 'admin:users'],
  ['POST', '/admin/users/ID/password', 'admin:users'],
  ['GET', '/admin/users/ID/sessions', 'admin:users'],
  ['DELETE', '/admin/users/ID/sessions', 'admin:users'],
  ['DELETE', '/admin/sessions/ID', 'admin:users'],
  ['GET', '/admin/audit', 'admin:audit'],
];

test('every admin route: 401 without a valid token, 403 without its scope or with another area', async (t) => {
  const s = await useServer(t);
  const plain = await clientToken(
    s,
    await createClient(s, { name: 'svc', grantTypes: ['client_credentials'], scopes: ['read'] }),
  );
  const callers = {
    'admin:keys': await adminCaller(s, 'admin:keys'),
    'admin:clients': await adminCaller(s, 'admin:clients'),
    'admin:users': await adminCaller(s, 'admin:users'),
    'admin:audit': await adminCaller(s, 'admin:audit'),
  } as Record<string, { token: string }>;
  for (const [method, path, scope] of ROUTES) {
    const none = await bearerCall(s, undefined, method, path);
    assertOAuthError(t, none, 401, 'invalid_token');
    // RFC 6750 §3.1 and RFC 9449 §7.1: both schemes offered, no error code.
    t.regex(none.headers.get('www-authenticate') ?? '', /^Bearer realm="tessera", DPoP algs="[^"]+"$/, path);
    assertOAuthError(t, await bearerCall(s, 'not.a.token', method, path), 401, 'invalid_token');
    const noScope = await bearerCall(s, plain, method, path);
    assertOAuthError(t, noScope, 403, 'insufficient_scope');
    t.regex(noScope.headers.get('www-authenticate') ?? '', new RegExp(`scope="${scope}"`), path);
    for (const [other, caller] of Object.entries(callers)) {
      if (other === scope) continue;
      assertOAuthError(t, await bearerCall(s, caller.token, method, path), 403, 'insufficient_scope');
    }
  }
});

test('an admin client gets an admin scope only when it asks for it; other clients never', async (t) => {
  const s = await useServer(t);
  const ops = await createClient(s, { name: 'ops', grantTypes: ['client_credentials'], isAdmin: true });
  const none = await clientCredentials(s, ops);
  t.is(none.status, 200);
  t.false(String(none.body.scope).includes('admin'));
  const svc = await createClient(s, { name: 'svc', grantTypes: ['client_credentials'] });
  assertOAuthError(t, await clientCredentials(s, svc, { scope: 'admin:users' }), 400, 'invalid_scope');
  // A narrow-scope token reaches its own area.
  const users = await adminCaller(s, 'admin:users');
  t.is((await users.call('GET', '/admin/users')).status, 200);
});

test('clients: create shows the secret once; get, list and patch never show a secret or its hash', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:clients');
  const created = await admin.call('POST', '/admin/clients', {
    name: 'Billing',
    grant_types: ['client_credentials'],
    scopes: ['read', 'write'],
    audiences: ['https://billing.example.com'],
  });
  t.is(created.status, 201);
  t.is(created.headers.get('cache-control'), 'no-store');
  const id = created.body.client_id as string;
  const secret = created.body.client_secret as string;
  t.regex(secret, /^[A-Za-z0-9_-]{43}$/);
  t.is(created.headers.get('location'), `/admin/clients/${id}`);
  t.like(created.body, { name: 'Billing', grant_types: ['client_credentials'], scopes: ['read', 'write'] });

  // The secret works.
  t.is((await clientCredentials(s, { client_id: id, client_secret: secret })).status, 200);

  const got = await admin.call('GET', `/admin/clients/${id}`);
  t.is(got.status, 200);
  t.deepEqual(Object.keys(got.body).sort(), [
    'admin',
    'allowed_origins',
    'audiences',
    'client_id',
    'created_at',
    'default_audience',
    'disabled',
    'dpop_bound_access_tokens',
    'grant_types',
    'introspect',
    'name',
    'public',
    'redirect_uris',
    'refresh_cookie',
    'scopes',
  ]);
  const patched = await admin.call('PATCH', `/admin/clients/${id}`, {
    scopes: ['read'],
    grant_types: ['client_credentials', 'password'],
    audiences: ['https://billing.example.com', 'https://api.example.com'],
  });
  t.is(patched.status, 200);
  t.like(patched.body, {
    scopes: ['read'],
    grant_types: ['client_credentials', 'password'],
    audiences: ['https://billing.example.com', 'https://api.example.com'],
  });
  // The change applies at once on this instance (client cache invalidated).
  const narrowed = await clientCredentials(s, { client_id: id, client_secret: secret }, { scope: 'write' });
  assertOAuthError(t, narrowed, 400, 'invalid_scope');

  for (const answer of [got, patched, await admin.call('GET', '/admin/clients?limit=500')]) {
    t.false(answer.text.includes(secret), 'no secret');
    t.false(answer.text.includes(sha256(secret)), 'no secret hash');
    t.false(/secret_hash|client_secret/.test(answer.text));
  }
});

test('clients: PATCH registers redirect URIs, origins and cookie mode, checked together with the grants', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:clients');
  const created = await admin.call('POST', '/admin/clients', {
    name: 'spa',
    public: true,
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: ['https://app.example.com/cb'],
  });
  t.is(created.status, 201, created.text);
  const id = created.body.client_id as string;
  const patched = await admin.call('PATCH', `/admin/clients/${id}`, {
    redirect_uris: ['https://app.example.com/cb', 'http://127.0.0.1:5173/cb'],
    allowed_origins: ['https://app.example.com'],
    refresh_cookie: true,
  });
  t.is(patched.status, 200, patched.text);
  t.like(patched.body, {
    redirect_uris: ['https://app.example.com/cb', 'http://127.0.0.1:5173/cb'],
    allowed_origins: ['https://app.example.com'],
    refresh_cookie: true,
  });
  for (const [body, field] of [
    [{ redirect_uris: ['http://evil.example.com/cb'] }, 'redirect_uris'],
    [{ allowed_origins: ['https://app.example.com/'] }, 'allowed_origins'],
    [{ grant_types: ['authorization_code'] }, 'refresh_cookie'],
    [{ refresh_cookie: 'yes' }, 'refresh_cookie'],
  ] as const) {
    const res = await admin.call('PATCH', `/admin/clients/${id}`, body);
    assertOAuthError(t, res, 422, 'invalid_request');
    t.true(String(res.body.error_description).includes(`"${field}"`), String(res.body.error_description));
  }
  const [updated] = await auditOf(s, 'client.updated', { clientId: id });
  t.deepEqual(updated?.detail.fields, ['redirect_uris', 'allowed_origins', 'refresh_cookie']);
});

test('clients: rotate-secret returns a new secret once and the old one stops; disable stops the client', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin');
  const client = await createClient(s, { name: 'svc', grantTypes: ['client_credentials'] });
  const rotated = await admin.call('POST', `/admin/clients/${client.client_id}/rotate-secret`);
  t.is(rotated.status, 200);
  t.is(rotated.body.client_id, client.client_id);
  const fresh = rotated.body.client_secret as string;
  t.not(fresh, client.client_secret);
  assertOAuthError(t, await clientCredentials(s, client), 401, 'invalid_client');
  t.is((await clientCredentials(s, { client_id: client.client_id, client_secret: fresh })).status, 200);

  const pub = await createClient(s, { name: 'spa', isPublic: true });
  const refused = await admin.call('POST', `/admin/clients/${pub.client_id}/rotate-secret`);
  assertOAuthError(t, refused, 422, 'invalid_request');

  const disabled = await admin.call('POST', `/admin/clients/${client.client_id}/disable`);
  t.is(disabled.status, 200);
  t.is(disabled.body.disabled, true);
  t.false(disabled.text.includes(fresh));
  assertOAuthError(
    t,
    await clientCredentials(s, { client_id: client.client_id, client_secret: fresh }),
    401,
    'invalid_client',
  );
});

test('clients: 404 for unknown ids, 422 naming the field, 415 for non-JSON bodies', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:clients');
  for (const [method, path] of [
    ['GET', '/admin/clients/c_nope'],
    ['PATCH', '/admin/clients/c_nope'],
    ['POST', '/admin/clients/c_nope/disable'],
    ['POST', '/admin/clients/c_nope/rotate-secret'],
  ] as const) {
    const res = await admin.call(method, path, method === 'PATCH' ? { name: 'x' } : undefined);
    assertOAuthError(t, res, 404, 'not_found');
  }
  const cases: [unknown, string][] = [
    [{}, 'name'],
    [{ name: 'x', grant_types: ['implicit'] }, 'grant_types'],
    [{ name: 'x', grant_types: 'password' }, 'grant_types'],
    [{ name: 'x', scopes: ['bad scope"'] }, 'scopes'],
    [{ name: 'x', scopes: ['admin:users'] }, 'scopes'],
    [{ name: 'x', audiences: ['not a uri'] }, 'audiences'],
    [{ name: 'x', public: 'yes' }, 'public'],
    [{ name: 'x', client_secret: 'mine' }, 'client_secret'],
    [{ name: 'x', public: true, grant_types: ['client_credentials'] }, 'grant_types'],
  ];
  for (const [body, field] of cases) {
    const res = await admin.call('POST', '/admin/clients', body);
    assertOAuthError(t, res, 422, 'invalid_request');
    t.true(
      String(res.body.error_description).includes(`"${field}"`),
      `${field}: ${res.body.error_description}`,
    );
  }
  const client = await createClient(s, { name: 'svc' });
  const patch = await admin.call('PATCH', `/admin/clients/${client.client_id}`, { scopes: [] });
  assertOAuthError(t, patch, 422, 'invalid_request');
  t.regex(String(patch.body.error_description), /"scopes"/);
  const form = await admin.call('POST', '/admin/clients', 'name=x', {
    'content-type': 'application/x-www-form-urlencoded',
  });
  assertOAuthError(t, form, 415, 'invalid_request');
  const broken = await admin.call('POST', '/admin/clients', '{"name":');
  assertOAuthError(t, broken, 400, 'invalid_request');
  const array = await admin.call('POST', '/admin/clients', '[1]');
  assertOAuthError(t, array, 400, 'invalid_request');
});

test('lists page with a cursor and a limit; a bad limit or cursor is 422', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin');
  for (let i = 0; i < 3; i++) await createUser(s, 'paged');
  const seen = new Set<string>();
  let cursor: string | undefined;
  let pages = 0;
  do {
    const res = await admin.call('GET', `/admin/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    t.is(res.status, 200);
    const users = res.body.users as { id: string }[];
    t.true(users.length <= 2);
    for (const u of users) {
      t.false(seen.has(u.id), 'no user twice');
      seen.add(u.id);
    }
    cursor = res.body.next_cursor as string | undefined;
    pages++;
  } while (cursor && pages < 50);
  t.true(seen.size >= 3);
  t.true(pages >= 2);
  await createClient(s, { name: 'another' });
  const clients = await admin.call('GET', '/admin/clients?limit=1');
  t.is((clients.body.clients as unknown[]).length, 1);
  t.is(typeof clients.body.next_cursor, 'string');
  for (const q of ['limit=0', 'limit=501', 'limit=x', 'cursor=bogus', 'limit=1&limit=2']) {
    const res = await admin.call('GET', `/admin/users?${q}`);
    assertOAuthError(t, res, 422, 'invalid_request');
  }
});

test('users: create, get, list (never a hash), duplicate 409, bad input 422, unknown 404', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:users');
  const created = await admin.call('POST', '/admin/users', {
    username: 'carol',
    password: 'a long enough passphrase',
    roles: ['user', 'billing'],
  });
  t.is(created.status, 201);
  const id = created.body.id as string;
  t.is(created.headers.get('location'), `/admin/users/${id}`);
  t.like(created.body, { username: 'carol', roles: ['user', 'billing'], disabled: false });
  const got = await admin.call('GET', `/admin/users/${id}`);
  t.deepEqual(Object.keys(got.body).sort(), [
    'created_at',
    'disabled',
    'id',
    'password_changed_at',
    'roles',
    'username',
  ]);
  const list = await admin.call('GET', '/admin/users?limit=500');
  for (const answer of [created, got, list]) {
    t.false(/argon2|password_hash|passphrase/.test(answer.text));
  }
  t.true((list.body.users as { id: string }[]).some((u) => u.id === id));

  const dup = await admin.call('POST', '/admin/users', {
    username: 'carol',
    password: 'another long passphrase',
  });
  assertOAuthError(t, dup, 409, 'invalid_request');
  for (const [body, field] of [
    [{ username: 'dave' }, 'password'],
    [{ username: 'dave', password: 'short' }, 'password'],
    [{ username: 'no spaces allowed', password: 'a long enough passphrase' }, 'username'],
    [{ username: 'dave', password: 'a long enough passphrase', roles: ['bad role'] }, 'roles'],
    [{ username: 'dave', password: 'a long enough passphrase', roles: 'user' }, 'roles'],
    [{ username: 'dave', password: 'a long enough passphrase', admin: true }, 'admin'],
  ] as const) {
    const res = await admin.call('POST', '/admin/users', body);
    assertOAuthError(t, res, 422, 'invalid_request');
    t.true(String(res.body.error_description).includes(`"${field}"`), String(res.body.error_description));
  }
  for (const path of [`/admin/users/${randomUUID()}`, '/admin/users/not-a-uuid']) {
    assertOAuthError(t, await admin.call('GET', path), 404, 'not_found');
    assertOAuthError(t, await admin.call('POST', `${path}/disable`), 404, 'not_found');
    assertOAuthError(t, await admin.call('GET', `${path}/sessions`), 404, 'not_found');
    assertOAuthError(t, await admin.call('DELETE', `${path}/sessions`), 404, 'not_found');
    const pw = await admin.call('POST', `${path}/password`, { password: 'a long enough passphrase' });
    assertOAuthError(t, pw, 404, 'not_found');
  }
});

test('users: set password and disable end every session at once', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:users');
  const app = await createClient(s, { name: 'app' });
  const user = await createUser(s, 'erin');
  const login = await passwordLogin(s, app, user.username, user.password);
  const access = login.body.access_token as string;
  t.is((await me(s, access)).status, 200);

  const changed = await admin.call('POST', `/admin/users/${user.id}/password`, {
    password: 'a brand new passphrase',
  });
  t.is(changed.status, 204);
  t.is((await me(s, access)).status, 401, 'the old session ended');
  assertOAuthError(t, await passwordLogin(s, app, user.username, user.password), 400, 'invalid_grant');
  const again = await passwordLogin(s, app, user.username, 'a brand new passphrase');
  t.is(again.status, 200);
  const short = await admin.call('POST', `/admin/users/${user.id}/password`, { password: 'short' });
  assertOAuthError(t, short, 422, 'invalid_request');

  const disabled = await admin.call('POST', `/admin/users/${user.id}/disable`);
  t.is(disabled.status, 200);
  t.is(disabled.body.disabled, true);
  t.is((await me(s, again.body.access_token as string)).status, 401);
});

test("sessions: list a user's, end one (its tokens stop at once), end all; 404 for unknown", async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin:users');
  const app = await createClient(s, { name: 'app' });
  const user = await createUser(s, 'frank');
  const first = await passwordLogin(s, app, user.username, user.password);
  const second = await passwordLogin(s, app, user.username, user.password);
  const listed = await admin.call('GET', `/admin/users/${user.id}/sessions`);
  t.is(listed.status, 200);
  const sessions = listed.body.sessions as Record<string, unknown>[];
  t.is(sessions.length, 2);
  for (const x of sessions) {
    t.deepEqual(Object.keys(x).sort(), [
      'audience',
      'client_id',
      'created_at',
      'expires_at',
      'kind',
      'last_used_at',
      'scope',
      'session_id',
    ]);
    t.is(x.kind, 'refresh');
    t.is(x.client_id, app.client_id);
  }
  t.false(listed.text.includes(first.body.refresh_token as string));

  const sid = JSON.parse(
    Buffer.from((first.body.access_token as string).split('.')[1] ?? '', 'base64url').toString(),
  ).sid as string;
  const ended = await admin.call('DELETE', `/admin/sessions/${sid}`);
  t.is(ended.status, 204);
  t.is((await me(s, first.body.access_token as string)).status, 401);
  t.is((await me(s, second.body.access_token as string)).status, 200, 'the other session lives');
  t.is((await admin.call('DELETE', `/admin/sessions/${sid}`)).status, 204, 'ending twice is harmless');
  assertOAuthError(t, await admin.call('DELETE', `/admin/sessions/${randomUUID()}`), 404, 'not_found');
  assertOAuthError(t, await admin.call('DELETE', '/admin/sessions/nope'), 404, 'not_found');

  const all = await admin.call('DELETE', `/admin/users/${user.id}/sessions`);
  t.is(all.status, 200);
  t.deepEqual(all.body, { user_id: user.id, sessions_ended: 1 });
  t.is((await me(s, second.body.access_token as string)).status, 401);
  t.deepEqual((await admin.call('GET', `/admin/users/${user.id}/sessions`)).body, { sessions: [] });
});
