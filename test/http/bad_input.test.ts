import test from 'ava';
import { useServer } from '../helpers/app.js';
import { basic, createClient } from '../helpers/oauth.js';

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
