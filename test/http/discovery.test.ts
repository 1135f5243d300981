import test from 'ava';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { useServer } from '../helpers/app.js';
import { basic, createClient, createUser, getJson, passwordLogin, postForm } from '../helpers/oauth.js';

test('RFC 8414 metadata: issuer equals ISSUER exactly and endpoints hang off it', async (t) => {
  const s = await useServer(t);
  const res = await getJson(`${s.url}/.well-known/oauth-authorization-server`);
  t.is(res.status, 200);
  t.is(res.body.issuer, 'http://tessera.test');
  t.is(res.body.token_endpoint, 'http://tessera.test/token');
  t.is(res.body.jwks_uri, 'http://tessera.test/.well-known/jwks.json');
  t.is(res.body.revocation_endpoint, 'http://tessera.test/revoke');
  t.is(res.body.introspection_endpoint, 'http://tessera.test/introspect');
  t.true((res.body.grant_types_supported as string[]).includes('password'));
  t.true((res.body.grant_types_supported as string[]).includes('client_credentials'));
  t.deepEqual(res.body.token_endpoint_auth_methods_supported, [
    'client_secret_basic',
    'client_secret_post',
    'none',
  ]);
  t.true(Array.isArray(res.body.scopes_supported));
});

test('metadata: served with a strong ETag, 304 on If-None-Match, a new body and ETag when keys change algorithm', async (t) => {
  const s = await useServer(t);
  const url = `${s.url}/.well-known/oauth-authorization-server`;
  const first = await fetch(url);
  const etag = first.headers.get('etag') as string;
  t.regex(etag, /^"[\w-]{32}"$/);
  t.regex(first.headers.get('content-type') ?? '', /^application\/json/);
  t.is((await fetch(url)).headers.get('etag'), etag, 'stable while nothing changes');
  const again = await fetch(url, { headers: { 'if-none-match': etag } });
  t.is(again.status, 304);
  t.is(await again.text(), '');
  // A body precomputed once must still follow its inputs: here the published algorithms.
  const algs = () => s.services.keys.current().algorithms;
  const before = algs();
  const keys = s.services.keys as unknown as { snapshot: { algorithms: readonly string[] } };
  keys.snapshot = { ...keys.snapshot, algorithms: [...before, 'EdDSA'] };
  const changed = await fetch(url);
  t.not(changed.headers.get('etag'), etag);
  t.deepEqual(((await changed.json()) as Record<string, unknown>).access_token_signing_alg_values_supported, [
    ...before,
    'EdDSA',
  ]);
});

test('JWKS: active and next key, public parts only, ETag, max-age and 304', async (t) => {
  const s = await useServer(t, { env: { JWKS_MAX_AGE: '120' } });
  const res = await fetch(`${s.url}/.well-known/jwks.json`);
  t.is(res.status, 200);
  t.is(res.headers.get('cache-control'), 'public, max-age=120');
  const etag = res.headers.get('etag');
  t.truthy(etag);
  const body = (await res.json()) as { keys: Record<string, unknown>[] };
  t.is(body.keys.length, 2);
  const snapshot = s.services.keys.current();
  t.deepEqual(body.keys.map((k) => k.kid).sort(), snapshot.records.map((r) => r.kid).sort());
  for (const k of body.keys) {
    t.is(k.alg, 'ES256');
    t.is(k.use, 'sig');
    t.false('d' in k, 'no private part');
  }
  const again = await fetch(`${s.url}/.well-known/jwks.json`, {
    headers: { 'if-none-match': etag as string },
  });
  t.is(again.status, 304);
});

async function login(t: Parameters<typeof useServer>[0]) {
  const s = await useServer(t);
  const client = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const user = await createUser(s);
  const res = await passwordLogin(s, client, user.username, user.password);
  return { s, token: res.body.access_token as string, user, client };
}

test('/me returns the claims of a valid token', async (t) => {
  const { s, token, user } = await login(t);
  const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${token}` });
  t.is(me.status, 200);
  t.is(me.body.sub, user.id);
  t.is(me.body.username, user.username);
  t.is(me.headers.get('cache-control'), 'no-store');
});

test('/me without a token: 401 with a Bearer challenge (RFC 6750 §3.1)', async (t) => {
  const { s } = await login(t);
  const me = await getJson(`${s.url}/me`);
  t.is(me.status, 401);
  t.regex(me.headers.get('www-authenticate') ?? '', /^Bearer realm="tessera"/);
  t.is(me.body.error, 'invalid_token');
});

function tamper(
  token: string,
  edit: (header: Record<string, unknown>, payload: Record<string, unknown>) => void,
) {
  const [h, p] = token.split('.') as [string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  edit(header, payload);
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return { header, payload, enc };
}

test('/me refuses forged tokens: other key, alg none, HS256 with the public key, expired, tampered', async (t) => {
  const { s, token } = await login(t);
  const expectInvalid = async (bad: string, label: string) => {
    const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${bad}` });
    t.is(me.status, 401, label);
    t.is(me.body.error, 'invalid_token', label);
    t.regex(me.headers.get('www-authenticate') ?? '', /error="invalid_token"/, label);
  };
  const { header, payload, enc } = tamper(token, () => {});

  // Signed by a key Tessera never published, but claiming a published kid.
  const other = await generateKeyPair('ES256');
  const otherSigned = await new SignJWT(payload)
    .setProtectedHeader(header as { alg: string })
    .sign(other.privateKey);
  await expectInvalid(otherSigned, 'other key, published kid');

  // Embedded jwk header pointing at the attacker's key.
  const withJwk = await new SignJWT(payload)
    .setProtectedHeader({ ...header, alg: 'ES256', jwk: await exportJWK(other.publicKey) } as never)
    .sign(other.privateKey);
  await expectInvalid(withJwk, 'embedded jwk');

  // alg none.
  await expectInvalid(`${enc({ ...header, alg: 'none' })}.${enc(payload)}.`, 'alg none');

  // HS256 with the public key bytes as the HMAC secret (algorithm confusion).
  const jwk = (s.services.keys.current().records.find((r) => r.kid === header.kid)?.publicJwk ??
    {}) as object;
  const hs = await new SignJWT(payload)
    .setProtectedHeader({ ...header, alg: 'HS256' } as { alg: string })
    .sign(new TextEncoder().encode(JSON.stringify(jwk)));
  await expectInvalid(hs, 'HS256 with public key');

  // Payload changed after signing.
  const [h, , sig] = token.split('.');
  await expectInvalid(`${h}.${enc({ ...payload, sub: 'someone-else' })}.${sig}`, 'tampered payload');

  // Wrong typ (an ID-token-like JWT signed by... nobody we know) and garbage.
  await expectInvalid('not.a.jwt', 'garbage');
  await expectInvalid('a'.repeat(10_000), 'huge');
});

test('/me: expired tokens are refused with at most 1 s tolerance', async (t) => {
  // Whole seconds, so "60.5 s later" is unambiguous against second-granular exp.
  const clock = { t: Math.floor(Date.now() / 1000) * 1000 };
  const s = await useServer(t, { now: () => clock.t, env: { ACCESS_TOKEN_TTL: '60' } });
  const client = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const user = await createUser(s);
  const token = (await passwordLogin(s, client, user.username, user.password)).body.access_token as string;
  clock.t += 60_500;
  t.is((await getJson(`${s.url}/me`, { authorization: `Bearer ${token}` })).status, 200, 'within tolerance');
  clock.t += 1_000;
  t.is((await getJson(`${s.url}/me`, { authorization: `Bearer ${token}` })).status, 401, 'expired');
});

test('health, readiness and metrics', async (t) => {
  const s = await useServer(t);
  t.deepEqual((await getJson(`${s.url}/healthz`)).body, { status: 'ok' });
  const ready = await getJson(`${s.url}/readyz`);
  t.is(ready.status, 200);
  t.is((ready.body.checks as Record<string, string>).database, 'ok');
  const client = await createClient(s, { name: 'm', grantTypes: ['client_credentials'] });
  await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials' },
    { authorization: basic(client.client_id, 'x') },
  );
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  t.regex(metrics, /process_cpu_user_seconds_total/);
  t.regex(metrics, /tessera_http_requests_total\{route="\/token",method="POST",status="401"\} 1/);
});
