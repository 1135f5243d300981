import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { createLogger } from '../../src/observability.js';
import { useServer } from '../helpers/app.js';
import { assertOAuthError, basic, clientCredentials, createClient, getJson } from '../helpers/oauth.js';

// docs/endpoints.md: nothing bad input does returns a 500. Every endpoint gets a battery of hostile requests.
const bodies: [string, string | Blob][] = [
  ['application/x-www-form-urlencoded', ''],
  ['application/x-www-form-urlencoded', '%'],
  ['application/x-www-form-urlencoded', '%E0%A4%A'],
  ['application/x-www-form-urlencoded', 'token=&token_type_hint=&grant_type='],
  ['application/x-www-form-urlencoded', `token=${'a'.repeat(9000)}`],
  ['application/x-www-form-urlencoded', 'grant_type=password&username[]=a&password[$ne]=b'],
  [
    'application/x-www-form-urlencoded',
    'token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.&grant_type=refresh_token&refresh_token=x',
  ],
  ['application/x-www-form-urlencoded', new Blob([new Uint8Array([0xff, 0xfe, 0x00, 0x3d, 0x26])])],
  ['application/json', '{"__proto__":{"admin":true},"token":"x","grant_type":"client_credentials"}'],
  ['application/json', '{"constructor":{"prototype":{"x":1}}}'],
  ['application/json', 'null'],
  ['application/json', '"string"'],
  ['application/json', '{"force":"yes"}'],
  ['application/json', '{"force":true,"extra":1}'],
  ['application/json', '{'],
  ['application/json', '{"token":["a","b"]}'],
  ['application/json; charset=latin1', '{"token":"x"}'],
  ['text/plain', 'token=x'],
  [
    'multipart/form-data; boundary=x',
    '--x\r\nContent-Disposition: form-data; name="token"\r\n\r\nx\r\n--x--',
  ],
  ['application/x-www-form-urlencoded', `pad=${'a'.repeat(20_000)}`],
];

const authorizations = [
  undefined,
  'Basic',
  'Basic ====',
  'Basic Og==',
  `Basic ${Buffer.from('%zz:%zz').toString('base64')}`,
  'Bearer',
  'Bearer a.b.c',
  `Bearer ${'x'.repeat(5000)}`,
  'Digest username="x"',
];

test('hostile bodies, content types and credentials never produce a 5xx', async (t) => {
  const s = await useServer(t);
  const admin = await createClient(s, {
    name: 'adm',
    grantTypes: ['client_credentials'],
    isAdmin: true,
    canIntrospect: true,
  });
  const valid = basic(admin.client_id, admin.client_secret as string);
  const posts = [
    '/token',
    '/revoke',
    '/introspect',
    '/logout',
    '/authorize',
    '/admin/keys/rotate',
    '/admin/keys/nope/revoke',
  ];
  const failures: string[] = [];
  for (const path of posts) {
    for (const auth of [...authorizations, valid]) {
      for (const [type, body] of bodies) {
        const res = await fetch(`${s.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': type, ...(auth ? { authorization: auth } : {}) },
          body,
        });
        const text = await res.text();
        if (res.status >= 500 || /at \w+ \(|node_modules/.test(text)) {
          failures.push(`${path} ${auth?.slice(0, 12)} ${type} -> ${res.status} ${text.slice(0, 80)}`);
        }
      }
    }
  }
  for (const path of [
    '/me',
    '/admin/keys',
    '/.well-known/jwks.json',
    '/readyz',
    '/%',
    '/token/../admin/keys',
    '/authorize',
    '/authorize?client_id=%',
    '/authorize?client_id=%E0%A4%A&redirect_uri=%00',
    `/authorize?client_id=${'x'.repeat(5000)}`,
    '/authorize?client_id[]=a&client_id[]=b',
    '/authorize?prompt=none&prompt=login',
  ]) {
    for (const auth of authorizations) {
      const res = await fetch(`${s.url}${path}`, { headers: auth ? { authorization: auth } : {} });
      if (res.status >= 500) failures.push(`GET ${path} ${auth} -> ${res.status}`);
    }
  }
  t.deepEqual(failures, []);
});

test('NUL, invalid UTF-8 and bad escapes in a parameter or credential are invalid_request/invalid_client, never a 500 or an error log', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const s = await useServer(t, { log: createLogger('debug', sink) });
  const rs = await createClient(s, {
    name: 'rs',
    grantTypes: ['password', 'client_credentials'],
    canIntrospect: true,
    isAdmin: true,
  });
  const auth = { authorization: basic(rs.client_id, rs.client_secret as string) };
  const form = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    fetch(`${s.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: body as BodyInit,
    }).then(async (r) => ({
      status: r.status,
      headers: r.headers,
      body: (await r.json()) as Record<string, unknown>,
    }));
  const json = (path: string, body: string, headers: Record<string, string> = {}) =>
    form(path, body, { 'content-type': 'application/json', ...headers });
  const basicOf = (raw: string | Uint8Array) => ({
    authorization: `Basic ${Buffer.from(raw).toString('base64')}`,
  });

  for (const bad of ['de%00mo', '%ff', '%c3%28', '%zz', '%', '%ed%a0%80']) {
    assertOAuthError(
      t,
      await form('/token', `grant_type=password&username=${bad}&password=x`, auth),
      400,
      'invalid_request',
    );
  }
  assertOAuthError(
    t,
    await form(
      '/token',
      new Uint8Array([...Buffer.from('grant_type=password&username=a'), 0xff, ...Buffer.from('&password=x')]),
      auth,
    ),
    400,
    'invalid_request',
  );
  for (const path of ['/token', '/revoke', '/introspect']) {
    assertOAuthError(
      t,
      await form(path, 'client_id=%00&grant_type=client_credentials&token=x'),
      400,
      'invalid_request',
    );
    assertOAuthError(
      t,
      await json(path, '{"client_id":"\\u0000","grant_type":"client_credentials","token":"x"}'),
      400,
      'invalid_request',
    );
    for (const credentials of ['%00:x', 'c\u0000:x', Buffer.from([0x63, 0xff, 0x3a, 0x78])]) {
      const res = await form(path, 'grant_type=client_credentials&token=x', basicOf(credentials));
      assertOAuthError(t, res, 401, 'invalid_client');
      t.regex(res.headers.get('www-authenticate') ?? '', /^Basic/);
    }
  }
  // RFC 7662 / RFC 7009: a malformed token is answered like an unknown one.
  for (const bad of ['%00', '%ff', '%zz', 'a%00b']) {
    const introspected = await form('/introspect', `token=${bad}`, auth);
    t.deepEqual([introspected.status, introspected.body], [200, { active: false }]);
    t.is((await form('/revoke', `token=${bad}`, auth)).status, 200);
  }
  t.deepEqual((await json('/introspect', '{"token":"\\u0000"}', auth)).body, { active: false });
  // A repeated JSON key is as invalid as a repeated form field, however it is spelled.
  assertOAuthError(
    t,
    await json('/token', '{"grant_type":"client_credentials","grant_type":"password"}', auth),
    400,
    'invalid_request',
  );
  assertOAuthError(
    t,
    await json('/token', '{"grant_type":"client_credentials","grant\\u005ftype":"x"}', auth),
    400,
    'invalid_request',
  );
  // Compressed bodies are refused before anything reads them (no Z_DATA_ERROR, no zip bomb).
  for (const encoding of ['gzip', 'br', 'deflate']) {
    for (const body of ['junk', gzipSync('grant_type=client_credentials')]) {
      const res = await form('/token', body, { ...auth, 'content-encoding': encoding });
      assertOAuthError(t, res, 415, 'invalid_request');
    }
  }
  t.is(
    (await form('/token', 'grant_type=client_credentials', { ...auth, 'content-encoding': 'identity' }))
      .status,
    200,
  );
  // Path and query parameters reach database lookups too.
  const admin = (await clientCredentials(s, rs, { scope: 'admin' })).body.access_token as string;
  for (const kid of ['%00', '%ff', '%c3%28']) {
    const res = await form(`/admin/keys/${kid}/revoke`, '', { authorization: `Bearer ${admin}` });
    assertOAuthError(t, res, 400, 'invalid_request');
  }
  assertOAuthError(t, await getJson(`${s.url}/.well-known/jwks.json?x=%00`), 400, 'invalid_request');

  const errors = lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
  t.deepEqual(errors, [], 'no error-level log line');
  t.false(
    lines.some((l) => /\bselect\b|insert into|22021|invalid byte sequence/i.test(l)),
    'no SQL in any log line',
  );
});
