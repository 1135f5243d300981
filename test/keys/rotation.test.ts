import test from 'ava';

// Serial: every test builds its own database, and PGlite instances are heavy to start concurrently.
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { KeyLifecycleError } from '../../src/keys/lifecycle.js';
import { testClock } from '../helpers/app.js';
import {
  adminPost,
  adminToken,
  algOf,
  clientToken,
  isolatedDatabase,
  jwksKids,
  keyServer,
  kidOf,
  serviceClient,
  within,
} from '../helpers/keys.js';
import { getJson } from '../helpers/oauth.js';

const ISSUER = 'http://tessera.test';

async function verifyThroughJwks(url: string, token: string, now = Date.now()) {
  const jwks = (await getJson(`${url}/.well-known/jwks.json`)).body as unknown as JSONWebKeySet;
  return jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ISSUER,
    typ: 'at+jwt',
    currentDate: new Date(now),
  });
}

test.serial(
  'a token issued just before a rotation still verifies; the new kid was published before it signed',
  async (t) => {
    const clock = testClock();
    const s = await keyServer(t, { now: clock.now });
    const client = await serviceClient(s);
    const before = await clientToken(s, client);
    const oldKid = kidOf(before);
    const published = await jwksKids(s);
    const { records } = s.services.keys.current();
    const nextKid = records.find((r) => r.state === 'next')?.kid as string;
    t.true(published.includes(nextKid), 'next key is in JWKS before it signs');

    clock.advance(301);
    const after = await clientToken(s, client);
    t.is(kidOf(after), oldKid, 'nothing changes until a rotation');
    const keys = await s.services.keyLifecycle.rotate();
    t.truthy(keys);

    const fresh = await clientToken(s, client);
    t.is(kidOf(fresh), nextKid, 'the promoted next key signs');
    t.not(kidOf(fresh), oldKid);
    const kidsAfter = await jwksKids(s);
    t.true(kidsAfter.includes(oldKid), 'the retired key stays published');
    t.is(kidsAfter.length, 3, 'active, new next and retired');

    // The token from before the rotation verifies through JWKS and at /me.
    const { protectedHeader } = await verifyThroughJwks(s.url, after, clock.now());
    t.is(protectedHeader.kid, oldKid);
    const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${after}` });
    t.is(me.status, 200);
    await t.notThrowsAsync(verifyThroughJwks(s.url, fresh, clock.now()));

    const states = Object.fromEntries((keys ?? []).map((k) => [k.kid, k.state]));
    t.is(states[oldKid], 'retired');
    t.is(states[nextKid], 'active');
    t.is(Object.values(states).filter((st) => st === 'active').length, 1);
  },
);

test.serial('too-fresh rotation is refused; force skips the wait', async (t) => {
  const clock = testClock();
  const s = await keyServer(t, { now: clock.now });
  const before = s.services.keys.current().signer.kid;
  const err = await t.throwsAsync(s.services.keyLifecycle.rotate(), { instanceOf: KeyLifecycleError });
  t.is(err?.code, 'rotation_refused');
  t.regex(err?.message ?? '', /published 0 s ago; it may sign after 300 s/);
  t.is(s.services.keys.current().signer.kid, before);

  clock.advance(299);
  await t.throwsAsync(s.services.keyLifecycle.rotate(), { instanceOf: KeyLifecycleError });
  await s.services.keyLifecycle.rotate({ force: true });
  t.not(s.services.keys.current().signer.kid, before);
  // The new next key is fresh again: a second, unforced rotation must wait.
  await t.throwsAsync(s.services.keyLifecycle.rotate(), { instanceOf: KeyLifecycleError });
  clock.advance(300);
  await t.notThrowsAsync(s.services.keyLifecycle.rotate());
});

test.serial(
  'retired keys leave JWKS (and are deleted) once every token they signed has expired',
  async (t) => {
    const clock = testClock();
    const s = await keyServer(t, {
      now: clock.now,
      env: { ACCESS_TOKEN_TTL: '60', KEY_RELOAD_INTERVAL: '5' },
    });
    // A client-level TTL override longer than the default sets the retirement deadline.
    const client = await serviceClient(s);
    await s.services.db('clients').where({ id: client.client_id }).update({ access_token_ttl: 120 });
    const token = await clientToken(s, client);
    const oldKid = kidOf(token);
    clock.advance(300);
    const keys = await s.services.keyLifecycle.rotate();
    const retired = keys?.find((k) => k.kid === oldKid);
    t.is(retired?.state, 'retired');
    // 120 s (longest TTL) + 5 s (reload interval: stale instances may still sign) + 1 s leeway.
    t.is(Date.parse(retired?.expires_at as string) - Date.parse(retired?.retired_at as string), 126_000);

    clock.advance(125);
    await s.services.keys.reload();
    t.true((await jwksKids(s)).includes(oldKid), 'still published while a token may be live');
    clock.advance(1);
    await s.services.keys.reload();
    t.false((await jwksKids(s)).includes(oldKid), 'gone once its tokens have expired');
    const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${token}` });
    t.is(me.status, 401);

    // The next transition removes the row and its encrypted private key.
    clock.advance(300);
    await s.services.keyLifecycle.rotate();
    t.false((await s.services.keyLifecycle.list()).some((k) => k.kid === oldKid));
  },
);

test.serial(
  'revoke: the key leaves JWKS at once, its tokens die, a new active key is in place',
  async (t) => {
    const clock = testClock();
    const s = await keyServer(t, { now: clock.now });
    const client = await serviceClient(s);
    const token = await clientToken(s, client);
    const kid = kidOf(token);
    t.is((await getJson(`${s.url}/me`, { authorization: `Bearer ${token}` })).status, 200);
    const admin = await adminToken(s);
    // The admin token was signed by the key we revoke: use it once, then it dies with the key.
    const res = await adminPost(s, `/admin/keys/${kid}/revoke`, admin);
    t.is(res.status, 200, res.text);
    const states = Object.fromEntries(
      (res.body.keys as { kid: string; state: string }[]).map((k) => [k.kid, k.state]),
    );
    t.is(states[kid], 'revoked');
    t.is(Object.values(states).filter((st) => st === 'active').length, 1);
    t.is(Object.values(states).filter((st) => st === 'next').length, 1);

    t.false((await jwksKids(s)).includes(kid));
    const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${token}` });
    t.is(me.status, 401);
    t.regex(me.headers.get('www-authenticate') ?? '', /invalid_token/);
    const fresh = await clientToken(s, client);
    t.not(kidOf(fresh), kid);
    t.is((await getJson(`${s.url}/me`, { authorization: `Bearer ${fresh}` })).status, 200);
    t.is((await adminPost(s, `/admin/keys/${kid}/revoke`, admin)).status, 401, 'the admin token died too');

    // Revoking the next key replaces it; revoking twice is a no-op; unknown kids are 404.
    const admin2 = await adminToken(s);
    const next = s.services.keys.current().records.find((r) => r.state === 'next')?.kid as string;
    const r2 = await adminPost(s, `/admin/keys/${next}/revoke`, admin2);
    t.is(r2.status, 200);
    const list = r2.body.keys as { kid: string; state: string }[];
    t.is(list.find((k) => k.kid === next)?.state, 'revoked');
    t.is(list.filter((k) => k.state === 'next').length, 1);
    t.false((await jwksKids(s)).includes(next));
    t.is((await adminPost(s, `/admin/keys/${next}/revoke`, admin2)).status, 200);
    const unknown = await adminPost(s, '/admin/keys/nope/revoke', admin2);
    t.is(unknown.status, 404);
    t.is(unknown.body.error, 'not_found');
  },
);

test.serial('algorithm change takes effect at the next rotation; JWKS carries both meanwhile', async (t) => {
  const clock = testClock();
  const database = await isolatedDatabase(t);
  const first = await keyServer(t, { now: clock.now, database });
  const client = await serviceClient(first);
  const es256 = await clientToken(first, client);
  t.is(algOf(es256), 'ES256');
  await first.close();

  // Restart with SIGNING_ALG=EdDSA: nothing changes until a rotation creates an EdDSA next key.
  const s = await keyServer(t, { now: clock.now, database, env: { SIGNING_ALG: 'EdDSA' } });
  t.is(algOf(await clientToken(s, client)), 'ES256');
  clock.advance(300);
  await s.services.keyLifecycle.rotate();
  // The old ES256 next key is active now; the new next is EdDSA and already published.
  const jwks = (await getJson(`${s.url}/.well-known/jwks.json`)).body.keys as { alg: string; kty: string }[];
  t.deepEqual([...new Set(jwks.map((k) => k.alg))].sort(), ['ES256', 'EdDSA']);
  const metadata = await getJson(`${s.url}/.well-known/oauth-authorization-server`);
  t.deepEqual(
    [...(metadata.body.access_token_signing_alg_values_supported as string[])].sort(),
    ['ES256', 'EdDSA'],
    'metadata advertises the algorithms of published keys',
  );
  t.is(algOf(await clientToken(s, client)), 'ES256');
  clock.advance(300);
  await s.services.keyLifecycle.rotate();
  const eddsa = await clientToken(s, client);
  t.is(algOf(eddsa), 'EdDSA');
  t.deepEqual([...s.services.keys.current().algorithms].sort(), ['ES256', 'EdDSA']);
  // Old ES256 tokens still verify (the retired ES256 key is published); new ones are EdDSA.
  t.is((await getJson(`${s.url}/me`, { authorization: `Bearer ${es256}` })).status, 200);
  t.is((await getJson(`${s.url}/me`, { authorization: `Bearer ${eddsa}` })).status, 200);
  await t.notThrowsAsync(verifyThroughJwks(s.url, es256, clock.now()));
  await t.notThrowsAsync(verifyThroughJwks(s.url, eddsa, clock.now()));
});

for (const alg of ['RS256', 'PS256', 'EdDSA'] as const) {
  test.serial(`${alg} keys sign tokens that verify through JWKS`, async (t) => {
    const s = await keyServer(t, { env: { SIGNING_ALG: alg } });
    const token = await clientToken(s, await serviceClient(s));
    t.is(algOf(token), alg);
    const { protectedHeader } = await verifyThroughJwks(s.url, token);
    t.is(protectedHeader.alg, alg);
    if (alg !== 'EdDSA') {
      const jwks = (await getJson(`${s.url}/.well-known/jwks.json`)).body.keys as { n?: string }[];
      // RFC 7518 §3.3: at least 2048-bit moduli.
      t.true(jwks.every((k) => Buffer.from(k.n ?? '', 'base64url').length * 8 >= 2048));
    }
  });
}

test.serial('scheduled rotation: two instances due at once rotate exactly once', async (t) => {
  const clock = testClock();
  const database = await isolatedDatabase(t);
  const a = await keyServer(t, { now: clock.now, database });
  const b = await keyServer(t, { now: clock.now, database });
  const before = a.services.keys.current().signer.kid;
  t.is(await a.services.keyLifecycle.rotate({ ifActiveOlderThan: 3600 }), null, 'not due yet');
  clock.advance(3600);
  const results = await Promise.all([
    a.services.keyLifecycle.rotate({ ifActiveOlderThan: 3600 }),
    b.services.keyLifecycle.rotate({ ifActiveOlderThan: 3600 }),
  ]);
  t.is(results.filter((r) => r !== null).length, 1, 'exactly one instance rotated');
  const keys = await a.services.keyLifecycle.list();
  t.is(keys.filter((k) => k.state === 'retired').length, 1);
  t.is(keys.find((k) => k.kid === before)?.state, 'retired');
});

test.serial(
  'JWKS: strong ETag, 304 on If-None-Match, Cache-Control public max-age, new ETag after rotation',
  async (t) => {
    const clock = testClock();
    const s = await keyServer(t, { now: clock.now, env: { JWKS_MAX_AGE: '120' } });
    const res = await fetch(`${s.url}/.well-known/jwks.json`);
    t.is(res.status, 200);
    t.is(res.headers.get('cache-control'), 'public, max-age=120');
    const etag = res.headers.get('etag') as string;
    t.regex(etag, /^"[^"]+"$/, 'strong ETag (no W/)');
    const cached = await fetch(`${s.url}/.well-known/jwks.json`, { headers: { 'if-none-match': etag } });
    t.is(cached.status, 304);
    t.is(await cached.text(), '');
    clock.advance(120);
    await s.services.keyLifecycle.rotate();
    const changed = await fetch(`${s.url}/.well-known/jwks.json`, { headers: { 'if-none-match': etag } });
    t.is(changed.status, 200);
    t.not(changed.headers.get('etag'), etag);
  },
);

test.serial(
  'KEY_ROTATION_INTERVAL: the scheduler rotates on its own, once across two instances',
  async (t) => {
    const database = await isolatedDatabase(t);
    const env = { KEY_ROTATION_INTERVAL: '2', JWKS_MAX_AGE: '0' };
    const a = await keyServer(t, { database, env });
    const b = await keyServer(t, { database, env });
    const before = a.services.keys.current().signer.kid;
    const elapsed = await within(4000, async () => {
      const keys = await a.services.keyLifecycle.list();
      return keys.some((k) => k.state === 'retired');
    });
    t.true(elapsed >= 0, 'rotated by the schedule');
    const keys = await b.services.keyLifecycle.list();
    t.is(keys.filter((k) => k.state === 'retired').length, 1, 'one rotation, not one per instance');
    t.is(keys.find((k) => k.kid === before)?.state, 'retired');
    // Audited once, by the schedule, in the rotation's own transaction.
    const audited = (await a.services.audit.list({ type: 'key.rotated', limit: 10 })).events;
    t.is(audited.length, 1);
    t.like(audited[0], { actor: 'system', ip: null, detail: { previous_kid: before, forced: false } });
  },
);
