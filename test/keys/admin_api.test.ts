import { Writable } from 'node:stream';
import test from 'ava';
import { createLogger } from '../../src/observability.js';
import { testClock } from '../helpers/app.js';
import {
  adminPost,
  adminToken,
  clientToken,
  keyServer,
  kidOf,
  PRIVATE_MARKERS,
  serviceClient,
} from '../helpers/keys.js';
import { assertOAuthError, createClient, getJson } from '../helpers/oauth.js';

// Serial: every test builds its own database (PGlite instances are heavy to start concurrently).

const KEY_FIELDS = ['activated_at', 'alg', 'created_at', 'expires_at', 'kid', 'retired_at', 'state'];

test.serial('admin API: 401 without a token, 403 without the admin scope, 200 with it', async (t) => {
  const s = await keyServer(t);
  const none = await getJson(`${s.url}/admin/keys`);
  assertOAuthError(t, none, 401, 'invalid_token');
  t.regex(none.headers.get('www-authenticate') ?? '', /^Bearer realm="tessera", DPoP algs="[^"]+"$/);
  const bad = await getJson(`${s.url}/admin/keys`, { authorization: 'Bearer not.a.token' });
  assertOAuthError(t, bad, 401, 'invalid_token');
  for (const path of ['/admin/keys/rotate', '/admin/keys/x/revoke']) {
    assertOAuthError(t, await adminPost(s, path, 'not.a.token'), 401, 'invalid_token');
  }

  const plain = await clientToken(s, await serviceClient(s));
  const forbidden = await getJson(`${s.url}/admin/keys`, { authorization: `Bearer ${plain}` });
  assertOAuthError(t, forbidden, 403, 'insufficient_scope');
  t.regex(forbidden.headers.get('www-authenticate') ?? '', /insufficient_scope/);
  assertOAuthError(
    t,
    await adminPost(s, '/admin/keys/rotate', plain, { force: true }),
    403,
    'insufficient_scope',
  );
  const kid = s.services.keys.current().signer.kid;
  assertOAuthError(t, await adminPost(s, `/admin/keys/${kid}/revoke`, plain), 403, 'insufficient_scope');
  t.is(s.services.keys.current().signer.kid, kid, 'nothing was revoked');

  // An admin client that did not ask for the admin scope gets none (least privilege).
  const ops = await createClient(s, { name: 'ops', grantTypes: ['client_credentials'], isAdmin: true });
  const noScope = await clientToken(s, ops);
  assertOAuthError(
    t,
    await getJson(`${s.url}/admin/keys`, { authorization: `Bearer ${noScope}` }),
    403,
    'insufficient_scope',
  );

  const ok = await getJson(`${s.url}/admin/keys`, { authorization: `Bearer ${await adminToken(s)}` });
  t.is(ok.status, 200);
  t.is(ok.headers.get('cache-control'), 'no-store');
  const keys = ok.body.keys as Record<string, unknown>[];
  t.is(keys.length, 2);
  for (const k of keys) t.deepEqual(Object.keys(k).sort(), KEY_FIELDS);
  t.deepEqual(keys.map((k) => k.state).sort(), ['active', 'next']);
  const active = keys.find((k) => k.state === 'active');
  t.is(active?.kid, kid);
  t.is(active?.alg, 'ES256');
  t.is(typeof active?.activated_at, 'string');
  t.is(active?.retired_at, null);
});

test.serial(
  'POST /admin/keys/rotate: 409 when too fresh, 200 with force or after max-age; body rules',
  async (t) => {
    const clock = testClock();
    const s = await keyServer(t, { now: clock.now });
    const token = await adminToken(s);
    const refused = await adminPost(s, '/admin/keys/rotate', token);
    assertOAuthError(t, refused, 409, 'rotation_refused');
    t.regex(
      refused.body.error_description as string,
      /published 0 s ago; it may sign after 300 s; send \{"force": true\} to rotate now/,
    );
    assertOAuthError(
      t,
      await adminPost(s, '/admin/keys/rotate', token, { force: false }),
      409,
      'rotation_refused',
    );

    for (const body of [{ force: 'yes' }, { force: 1 }, { other: true }, [true], 'null']) {
      assertOAuthError(t, await adminPost(s, '/admin/keys/rotate', token, body), 400, 'invalid_request');
    }
    assertOAuthError(
      t,
      await adminPost(s, '/admin/keys/rotate', token, '{"force": tru'),
      400,
      'invalid_request',
    );
    const textBody = await fetch(`${s.url}/admin/keys/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: 'force',
    });
    t.is(textBody.status, 415);
    const big = await adminPost(s, '/admin/keys/rotate', token, { force: true, pad: 'x'.repeat(20_000) });
    t.is(big.status, 413);

    const before = s.services.keys.current().signer.kid;
    const forced = await adminPost(s, '/admin/keys/rotate', token, { force: true });
    t.is(forced.status, 200, forced.text);
    const active = (forced.body.keys as { kid: string; state: string }[]).find((k) => k.state === 'active');
    t.not(active?.kid, before);
    t.is(s.services.keys.current().signer.kid, active?.kid as string, 'this instance signs with it at once');
    t.is((forced.body.keys as { state: string }[]).length, 3);

    clock.advance(300);
    // The admin token was signed by the now retired key: still valid until it expires.
    const later = await adminPost(s, '/admin/keys/rotate', token);
    t.is(later.status, 200, later.text);
    const form = await fetch(`${s.url}/admin/keys/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'force=true',
    });
    t.is(form.status, 200);
  },
);

test.serial('no private key material in any API response or log line (trace level)', async (t) => {
  let logs = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs += chunk.toString();
      done();
    },
  });
  const clock = testClock();
  const s = await keyServer(t, {
    now: clock.now,
    log: createLogger('trace', sink),
    env: { LOG_LEVEL: 'trace', SIGNING_ALG: 'RS256' },
  });
  const token = await adminToken(s);
  const bodies: string[] = [];
  const list = await fetch(`${s.url}/admin/keys`, { headers: { authorization: `Bearer ${token}` } });
  bodies.push(await list.text());
  bodies.push((await adminPost(s, '/admin/keys/rotate', token)).text);
  bodies.push((await adminPost(s, '/admin/keys/rotate', token, { force: true })).text);
  const svc = await serviceClient(s);
  const victim = kidOf(await clientToken(s, svc));
  bodies.push((await adminPost(s, `/admin/keys/${victim}/revoke`, token)).text);
  bodies.push((await adminPost(s, '/admin/keys/unknown/revoke', await adminToken(s))).text);
  bodies.push(await (await fetch(`${s.url}/.well-known/jwks.json`)).text());
  bodies.push(await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).text());
  await s.services.keys.reload();

  const sealed = (await s.services.signingKeys.list()).map((k) => k.privateJwe);
  t.true(sealed.length >= 4);
  t.true(logs.includes('signing key rotated'), 'the trace log captured the key events');
  t.true(logs.includes('signing key revoked'));
  for (const text of [...bodies, logs]) {
    t.notRegex(text, PRIVATE_MARKERS);
    for (const jwe of sealed) t.false(text.includes(jwe));
  }
});
