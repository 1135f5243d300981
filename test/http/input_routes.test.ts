import { gzipSync } from 'node:zlib';
import test from 'ava';
import type { Middleware } from 'koa';
import { createApp } from '../../src/app.js';
import { isInputReader } from '../../src/http/input.js';
import { adminCaller, bearerCall } from '../helpers/admin.js';
import { useServer } from '../helpers/app.js';
import { authorizationRequest, CookieJar, createCodeClient, getAuthorize } from '../helpers/authorize.js';
import { assertOAuthError, createClient } from '../helpers/oauth.js';

// Issue 17 N4 and N5: /authorize, /logout and the admin API read their input through the one
// strict reader (src/http/input.ts); cursors and dates are range-checked before SQL. On PGlite
// and, with DATABASE_URL, on Postgres (the two differ in what they refuse).

const b64 = (s: string) => Buffer.from(s).toString('base64url');
const JUNK_GZIP = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00]);

test('every route reads its input through the one reader', async (t) => {
  const s = await useServer(t);
  const app = createApp(s.services);
  type Layer = { path: string; methods: string[]; stack: Middleware[] };
  const layers: Layer[] = [];
  for (const mw of app.middleware as { router?: { stack: Layer[] } }[])
    layers.push(...(mw.router?.stack ?? []));
  t.true(layers.length > 20);
  for (const layer of layers) {
    t.is(layer.stack.filter(isInputReader).length, 1, `${layer.methods.join(',')} ${layer.path}`);
  }
});

test('N4: POST /authorize refuses content encodings (junk gzip too) and bad bytes with the error page', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const form = new URLSearchParams(authorizationRequest(client.client_id).params).toString();
  for (const [encoding, body] of [
    ['gzip', JUNK_GZIP],
    ['gzip', gzipSync(form)],
    ['br', new Uint8Array([1, 2, 3])],
    ['deflate', new Uint8Array([1, 2, 3])],
  ] as const) {
    const res = await fetch(`${s.url}/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': encoding },
      body,
      redirect: 'manual',
    });
    t.is(res.status, 415, encoding);
    t.regex(res.headers.get('content-type') ?? '', /text\/html/);
    t.notRegex(await res.text(), /at \w+ \(|node_modules/);
  }
  for (const bad of ['%00', '%ff', '%zz', '%c3%28', '%01']) {
    const res = await fetch(`${s.url}/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${form}&username=a${bad}`,
      redirect: 'manual',
    });
    t.is(res.status, 400, bad);
    t.regex(res.headers.get('content-type') ?? '', /text\/html/);
    const query = await fetch(`${s.url}/authorize?${form}&state=${bad}`, { redirect: 'manual' });
    t.is(query.status, 400, `query ${bad}`);
    t.regex(query.headers.get('content-type') ?? '', /text\/html/, 'GET shows the error page too');
  }
  const json = await fetch(`${s.url}/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    redirect: 'manual',
  });
  t.is(json.status, 415);
  // The reader changes nothing for a good request: the login page.
  t.is((await getAuthorize(s, authorizationRequest(client.client_id).params, new CookieJar())).status, 200);
});

test('N4: POST /logout and the admin API refuse content encodings before any other step', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin');
  for (const [method, path] of [
    ['POST', '/admin/clients'],
    ['PATCH', '/admin/clients/c_x'],
    ['POST', '/admin/users'],
    ['POST', '/admin/keys/rotate'],
    ['POST', '/admin/clients/c_x/disable'],
    ['POST', '/logout'],
  ] as const) {
    for (const body of [JUNK_GZIP, gzipSync('{"name":"x"}')]) {
      const res = await bearerCall(s, admin.token, method, path, undefined, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      });
      t.is(res.status, 415, `${method} ${path}`);
      t.is(res.body.error, 'invalid_request');
      const raw = await fetch(`${s.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${admin.token}`,
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        body,
      });
      t.is(raw.status, 415, `${method} ${path} with a body`);
    }
  }
});

test('N5: NUL, control characters, lone surrogates and repeated keys in admin bodies are 400, never 500, never stored', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin');
  const client = await createClient(s, { name: 'svc' });
  const bodies = [
    '{"name":"de\\u0000mo"}',
    '{"name":"bell\\u0007"}',
    '{"name":"\\ud800"}',
    '{"name":"x\\udc00y"}',
    '{"name":"a","redirect_uris":["https://app.example/cb\\u0000"]}',
    '{"name":"a","audiences":["https://api.example/\\u0000"]}',
    '{"name":"a","name":"b"}',
    '{"name":"a","audiences":["https://api.example"],"\\u006eame":"b"}',
  ];
  for (const body of bodies) {
    assertOAuthError(t, await admin.call('POST', '/admin/clients', body), 400, 'invalid_request');
    assertOAuthError(
      t,
      await admin.call('PATCH', `/admin/clients/${client.client_id}`, body),
      400,
      'invalid_request',
    );
  }
  for (const body of [
    '{"username":"u\\u0000","password":"pw-long-enough-1"}',
    '{"username":"u","username":"v"}',
  ]) {
    assertOAuthError(t, await admin.call('POST', '/admin/users', body), 400, 'invalid_request');
  }
  const list = await admin.call('GET', '/admin/clients?limit=500');
  t.false(JSON.stringify(list.body).includes('\\ufffd'), 'no U+FFFD stored');
  t.is((await admin.call('GET', `/admin/clients/${client.client_id}`)).body.name, 'svc');
});

test('N5: out-of-range cursors and dates are 422 naming the field, on every list', async (t) => {
  const s = await useServer(t);
  const admin = await adminCaller(s, 'admin');
  const cases: [path: string, field: string][] = [
    [`/admin/audit?cursor=${b64('a:9223372036854775808')}`, 'cursor'],
    [`/admin/audit?cursor=${b64('a:99999999999999999999')}`, 'cursor'],
    [`/admin/audit?cursor=${b64('a:0')}`, 'cursor'],
    ['/admin/audit?since=0000-01-01T00:00:00Z', 'since'],
    ['/admin/audit?until=0000-06-01T00:00:00.000Z', 'until'],
    ['/admin/audit?since=0001-01-01T00:00:00%2B01:00', 'since'],
    [`/admin/users?cursor=${b64('2024-01-01T00:00:00.000Z|not-a-uuid')}`, 'cursor'],
    [`/admin/users?cursor=${b64('0000-01-01T00:00:00.000Z|00000000-0000-4000-8000-000000000000')}`, 'cursor'],
    [`/admin/clients?cursor=${b64('0000-01-01T00:00:00.000Z|c_x')}`, 'cursor'],
    ['/admin/audit?limit=1&limit=2', 'limit'],
  ];
  for (const [path, field] of cases) {
    const res = await admin.call('GET', path);
    assertOAuthError(t, res, 422, 'invalid_request');
    t.regex(String(res.body.error_description), new RegExp(`"${field}"`), path);
  }
  // The edges that are in range still answer.
  t.is((await admin.call('GET', `/admin/audit?cursor=${b64('a:9223372036854775807')}`)).status, 200);
  t.is(
    (await admin.call('GET', '/admin/audit?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z')).status,
    200,
  );
  const users = `/admin/users?cursor=${b64('2024-01-01T00:00:00.000Z|00000000-0000-4000-8000-000000000000')}`;
  t.is((await admin.call('GET', users)).status, 200);
});
