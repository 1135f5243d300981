import test from 'ava';
import { adminCaller, auditOf, bearerCall } from '../helpers/admin.js';
import { useServer } from '../helpers/app.js';
import {
  authorizationRequest,
  CookieJar,
  getAuthorize,
  hiddenFields,
  postAuthorize,
} from '../helpers/authorize.js';
import { assertOAuthError, basic, createUser, getJson, passwordLogin, postForm } from '../helpers/oauth.js';

const OPEN = {
  CLIENT_REGISTRATION: 'open',
  THIRD_PARTY_SCOPES: 'read write',
  THIRD_PARTY_AUDIENCES: 'https://mcp.example.test/mcp',
  RATE_LIMIT_REGISTRATIONS_PER_HOUR: '1000',
};
const WEB = { redirect_uris: ['https://app.example.test/callback'], client_name: 'Notes' };

const register = (s: { url: string }, body: unknown, headers: Record<string, string> = {}) =>
  bearerCall(s as never, undefined, 'POST', '/register', body, headers);

test('registration is absent while CLIENT_REGISTRATION=off: 404, and no registration_endpoint', async (t) => {
  const s = await useServer(t);
  t.is((await register(s, WEB)).status, 404);
  t.is((await bearerCall(s, 'x', 'GET', '/register/c_x')).status, 404);
  const meta = await getJson(`${s.url}/.well-known/oauth-authorization-server`);
  t.false('registration_endpoint' in meta.body);
  t.false('client_id_metadata_document_supported' in meta.body);
});

test('open registration: 201 with id, secret once, registration token and URI; audited; metadata lists the endpoint', async (t) => {
  const s = await useServer(t, { env: OPEN });
  const res = await register(s, { ...WEB, scope: 'read', contacts: ['ops@example.test'] });
  t.is(res.status, 201, res.text);
  t.regex(String(res.body.client_id), /^c_/);
  t.regex(String(res.body.client_secret), /^[A-Za-z0-9_-]{43}$/);
  t.is(res.body.client_secret_expires_at, 0);
  t.regex(String(res.body.registration_access_token), /^[A-Za-z0-9_-]{43}$/);
  t.is(res.body.registration_client_uri, `http://tessera.test/register/${res.body.client_id}`);
  t.is(res.body.token_endpoint_auth_method, 'client_secret_basic');
  t.deepEqual(res.body.grant_types, ['authorization_code']);
  t.is(res.body.scope, 'read');
  t.is(res.headers.get('cache-control'), 'no-store');
  const events = await auditOf(s, 'client.registered', { clientId: String(res.body.client_id) });
  t.is(events.length, 1);
  t.is(events[0]?.actor, 'anonymous');
  t.false(JSON.stringify(events).includes(String(res.body.client_secret)));
  // Only the digest of the registration token is stored.
  const row = await s.database.db('client_registrations').where({ client_id: res.body.client_id }).first();
  t.not(row.access_token_hash, res.body.registration_access_token);
  t.false(JSON.stringify(row).includes(String(res.body.registration_access_token)));
  const meta = await getJson(`${s.url}/.well-known/oauth-authorization-server`);
  t.is(meta.body.registration_endpoint, 'http://tessera.test/register');
});

test('a public native client (none) gets no secret; loopback and private-use redirect URIs are accepted', async (t) => {
  const s = await useServer(t, { env: OPEN });
  const res = await register(s, {
    client_name: 'CLI',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]:8123/cb', 'com.example.cli:/oauth'],
  });
  t.is(res.status, 201, res.text);
  t.false('client_secret' in res.body);
  t.is(res.body.scope, 'read write');
});

test('redirect URIs per application_type, and bad metadata: RFC 7591 §3.2.2 errors as JSON', async (t) => {
  const s = await useServer(t, { env: OPEN });
  const cases: [unknown, string][] = [
    [{ client_name: 'x' }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['http://app.example.test/cb'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['https://app.example.test/cb#frag'] }, 'invalid_redirect_uri'],
    [{ application_type: 'native', redirect_uris: ['https://app.example.test/cb'] }, 'invalid_redirect_uri'],
    [{ application_type: 'native', redirect_uris: ['http://localhost/cb'] }, 'invalid_redirect_uri'],
    [{ application_type: 'native', redirect_uris: ['http://10.0.0.1/cb'] }, 'invalid_redirect_uri'],
    [{ application_type: 'native', redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    [{ ...WEB, grant_types: ['password'] }, 'invalid_client_metadata'],
    [{ ...WEB, grant_types: ['authorization_code', 'client_credentials'] }, 'invalid_client_metadata'],
    [{ ...WEB, scope: 'admin' }, 'invalid_client_metadata'],
    [{ ...WEB, scope: 'read delete' }, 'invalid_client_metadata'],
    [{ ...WEB, token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
    [{ ...WEB, response_types: ['token'] }, 'invalid_client_metadata'],
    [{ ...WEB, application_type: 'desktop' }, 'invalid_client_metadata'],
    [{ ...WEB, client_name: 42 }, 'invalid_client_metadata'],
    [{ ...WEB, registration_access_token: 'mine' }, 'invalid_client_metadata'],
    // A top level that is not an object is refused by the one strict reader (docs/endpoints.md).
    [[WEB], 'invalid_request'],
  ];
  for (const [body, error] of cases) {
    const res = await register(s, body);
    t.is(res.status, 400, `${JSON.stringify(body)} → ${res.text}`);
    t.is(res.body.error, error, JSON.stringify(body));
    t.regex(res.headers.get('content-type') ?? '', /application\/json/);
  }
  t.is((await register(s, '{"redirect_uris": ["https://a.test/\\u0000"]}')).status, 400);
  t.is((await register(s, JSON.stringify(WEB), { 'content-type': 'text/plain' })).status, 415);
  t.is((await register(s, JSON.stringify(WEB), { 'content-encoding': 'gzip' })).status, 415);
  t.is((await register(s, '{"redirect_uris": ')).status, 400);
});

test('a registered client is third-party: code flow only, never the password grant, scopes and audiences bounded', async (t) => {
  const s = await useServer(t, { env: OPEN });
  const res = await register(s, { ...WEB, grant_types: ['authorization_code', 'refresh_token'] });
  const client = { client_id: String(res.body.client_id), client_secret: String(res.body.client_secret) };
  const user = await createUser(s);
  const pw = await passwordLogin(s, client, user.username, user.password);
  assertOAuthError(t, pw, 400, 'unauthorized_client');
  const cc = await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials' },
    {
      authorization: basic(client.client_id, client.client_secret),
    },
  );
  assertOAuthError(t, cc, 400, 'unauthorized_client');
  const stored = await s.services.clients.findById(client.client_id);
  t.is(stored?.kind, 'dynamic');
  t.deepEqual(stored?.audiences, ['http://tessera.test', 'https://mcp.example.test/mcp']);
  // An audience outside THIRD_PARTY_AUDIENCES is invalid_target (redirected back).
  const request = authorizationRequest(client.client_id, { resource: 'https://other.example.test/' });
  const page = await getAuthorize(s, request.params);
  t.is(page.status, 302);
  t.is(new URL(page.location as string).searchParams.get('error'), 'invalid_target');
});

test('token mode needs an admin token with admin:clients', async (t) => {
  const s = await useServer(t, { env: { ...OPEN, CLIENT_REGISTRATION: 'token' } });
  const anonymous = await register(s, WEB);
  t.is(anonymous.status, 401);
  const users = await adminCaller(s, 'admin:users');
  t.is((await users.call('POST', '/register', WEB)).status, 403);
  const clients = await adminCaller(s, 'admin:clients');
  const ok = await clients.call('POST', '/register', WEB);
  t.is(ok.status, 201, ok.text);
  const [event] = await auditOf(s, 'client.registered', { clientId: String(ok.body.client_id) });
  t.is(event?.actor, clients.client.client_id);
});

test('RFC 7592: read, update and delete with the registration access token; a wrong token is 401', async (t) => {
  const s = await useServer(t, { env: OPEN });
  const created = await register(s, WEB);
  const id = String(created.body.client_id);
  const token = String(created.body.registration_access_token);
  const path = `/register/${id}`;
  const read = await bearerCall(s, token, 'GET', path);
  t.is(read.status, 200, read.text);
  t.is(read.body.client_name, 'Notes');
  t.false('client_secret' in read.body);
  t.false('registration_access_token' in read.body);
  for (const bad of [undefined, 'x'.repeat(43), String(created.body.client_secret)]) {
    const res = await bearerCall(s, bad, 'GET', path);
    t.is(res.status, 401);
    t.is(res.body.error, 'invalid_token');
    t.regex(res.headers.get('www-authenticate') ?? '', /Bearer/);
  }
  // Another client's token does not open this one; an unknown id answers the same.
  const other = await register(s, WEB);
  t.is((await bearerCall(s, String(other.body.registration_access_token), 'GET', path)).status, 401);
  t.is((await bearerCall(s, token, 'GET', '/register/c_nobody')).status, 401);

  const wrongId = await bearerCall(s, token, 'PUT', path, { ...WEB, client_id: 'c_other' });
  t.is(wrongId.body.error, 'invalid_client_metadata');
  const wrongSecret = await bearerCall(s, token, 'PUT', path, {
    ...WEB,
    client_id: id,
    client_secret: 'nope',
  });
  t.is(wrongSecret.body.error, 'invalid_client_metadata');
  const newMethod = await bearerCall(s, token, 'PUT', path, {
    ...WEB,
    client_id: id,
    token_endpoint_auth_method: 'none',
  });
  t.is(newMethod.body.error, 'invalid_client_metadata');
  const updated = await bearerCall(s, token, 'PUT', path, {
    client_id: id,
    client_name: 'Notes 2',
    redirect_uris: ['https://app.example.test/new'],
  });
  t.is(updated.status, 200, updated.text);
  t.is(updated.body.client_name, 'Notes 2');
  t.deepEqual((await s.services.clients.findById(id))?.redirectUris, ['https://app.example.test/new']);
  t.is((await auditOf(s, 'client.registration_updated', { clientId: id })).length, 1);

  const deleted = await bearerCall(s, token, 'DELETE', path);
  t.is(deleted.status, 204);
  t.is((await bearerCall(s, token, 'GET', path)).status, 401);
  t.truthy((await s.services.clients.findById(id))?.disabledAt);
  t.is((await auditOf(s, 'client.registration_deleted', { clientId: id })).length, 1);
});

test('registrations are limited per IP (429 with Retry-After)', async (t) => {
  const s = await useServer(t, {
    env: { ...OPEN, RATE_LIMIT_REGISTRATIONS_PER_HOUR: '3', TRUST_PROXY: '1' },
  });
  // Its own address: the limiter store may be shared with the other tests of this file.
  const ip = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
  const from = (addr: string) => ({ 'x-forwarded-for': addr });
  for (let i = 0; i < 3; i++) t.is((await register(s, WEB, from(ip))).status, 201);
  const limited = await register(s, WEB, from(ip));
  t.is(limited.status, 429);
  t.is(limited.body.error, 'rate_limited');
  t.truthy(limited.headers.get('retry-after'));
  // IPv6: one /64 is one counter.
  const net = `2001:db8:${Math.floor(Math.random() * 65535).toString(16)}:1`;
  for (let i = 0; i < 3; i++) t.is((await register(s, WEB, from(`${net}::${i + 1}`))).status, 201);
  t.is((await register(s, WEB, from(`${net}::99`))).status, 429);
});

test('the consent page is shown to a registered client after the login (not to an admin-made one)', async (t) => {
  const s = await useServer(t, { env: OPEN });
  const res = await register(s, { ...WEB, token_endpoint_auth_method: 'none' });
  const user = await createUser(s);
  const jar = new CookieJar();
  const request = authorizationRequest(String(res.body.client_id));
  const login = await getAuthorize(s, request.params, jar);
  const consent = await postAuthorize(
    s,
    { ...hiddenFields(login.html), username: user.username, password: user.password },
    jar,
  );
  t.is(consent.status, 200, consent.html.slice(0, 300));
  t.regex(consent.html, /Allow access\?/);
  t.regex(consent.html, /registered dynamically/);
  t.regex(consent.html, /app\.example\.test/);
});

test('a loopback redirect without application_type (RFC 7591 §2: web) is refused with what to send instead', async (t) => {
  const s = await useServer(t, { env: OPEN });
  const cases: [Record<string, unknown>, RegExp][] = [
    // What the MCP SDK's example client and many hosts send: no application_type at all.
    [
      { redirect_uris: ['http://127.0.0.1:8090/callback'] },
      /loopback redirect_uri needs application_type "native"/,
    ],
    [
      { redirect_uris: ['http://localhost:8090/callback'] },
      /application_type "native", with http:\/\/127\.0\.0\.1 or http:\/\/\[::1\] instead of localhost/,
    ],
    [{ redirect_uris: ['com.example.host:/cb'] }, /private-use scheme needs application_type "native"/],
    [
      { application_type: 'native', redirect_uris: ['http://localhost:8090/callback'] },
      /not localhost, RFC 8252 §8\.3/,
    ],
  ];
  for (const [body, description] of cases) {
    const res = await register(s, { client_name: 'Host', token_endpoint_auth_method: 'none', ...body });
    t.is(res.status, 400, JSON.stringify(body));
    t.is(res.body.error, 'invalid_redirect_uri');
    t.regex(String(res.body.error_description), description);
  }
  const native = await register(s, {
    client_name: 'Host',
    token_endpoint_auth_method: 'none',
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1:8090/callback'],
  });
  t.is(native.status, 201, native.text);
});
