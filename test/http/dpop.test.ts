import test from 'ava';
import { calculateJwkThumbprint, decodeJwt } from 'jose';
import { useServer } from '../helpers/app.js';
import { type DpopKey, dpopKey, proof } from '../helpers/dpop.js';
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

// DPoP (RFC 9449, docs/dpop.md) end to end over HTTP. The test ISSUER is http://tessera.test while
// requests go to 127.0.0.1: proofs name the ISSUER's URIs, never the Host header.
const ISSUER = 'http://tessera.test';
const TOKEN = `${ISSUER}/token`;

const thumbprint = (key: DpopKey) => calculateJwkThumbprint(key.publicJwk, 'sha256');

type Server = Awaited<ReturnType<typeof useServer>>;

function tokenRequest(s: Server, client: TestClient, body: Record<string, string>, dpop?: string) {
  const auth: Record<string, string> =
    client.client_secret === undefined
      ? {}
      : { authorization: basic(client.client_id, client.client_secret) };
  const form = client.client_secret === undefined ? { client_id: client.client_id, ...body } : body;
  return postForm(`${s.url}/token`, form, { ...auth, ...(dpop ? { dpop } : {}) });
}

async function resource(
  s: Server,
  path: string,
  token: string,
  options: { method?: string; scheme?: string; dpop?: string } = {},
) {
  const res = await fetch(`${s.url}${path}`, {
    method: options.method ?? 'GET',
    headers: {
      authorization: `${options.scheme ?? 'DPoP'} ${token}`,
      ...(options.dpop ? { dpop: options.dpop } : {}),
    },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
}

async function setup(t: import('ava').ExecutionContext, env: Record<string, string> = {}) {
  const s = await useServer(t, { env });
  const service = await createClient(s, {
    name: 'svc',
    grantTypes: ['client_credentials'],
    scopes: ['read'],
    audiences: [ISSUER, 'https://api.test'],
  });
  const spa = await createClient(s, {
    name: 'spa',
    grantTypes: ['password', 'refresh_token'],
    isPublic: true,
  });
  const user = await createUser(s, 'dpop');
  return { s, service, spa, user, key: await dpopKey() };
}

test('client_credentials with a proof: token_type DPoP, cnf.jkt, introspection shows both', async (t) => {
  const { s, service, key } = await setup(t);
  const res = await tokenRequest(
    s,
    service,
    { grant_type: 'client_credentials' },
    await proof(key, { htu: TOKEN }),
  );
  t.is(res.status, 200, JSON.stringify(res.body));
  t.is(res.body.token_type, 'DPoP');
  const access = res.body.access_token as string;
  t.deepEqual(decodeJwt(access).cnf, { jkt: await thumbprint(key) });

  const rs = await createResourceServer(s, ['https://api.test']);
  const seen = await introspect(s, rs, access);
  t.is(seen.body.active, true);
  t.is(seen.body.token_type, 'DPoP');
  t.deepEqual(seen.body.cnf, { jkt: await thumbprint(key) });

  // Without a proof the same client gets an unbound Bearer token, introspected as such.
  const plain = await tokenRequest(s, service, { grant_type: 'client_credentials' });
  t.is(plain.body.token_type, 'Bearer');
  t.is(decodeJwt(plain.body.access_token as string).cnf, undefined);
  const plainSeen = await introspect(s, rs, plain.body.access_token as string);
  t.is(plainSeen.body.token_type, 'Bearer');
  t.is(plainSeen.body.cnf, undefined);
});

test('/token: a bad proof is 400 invalid_dpop_proof; a replayed one too; a proof for another URI too', async (t) => {
  const { s, service, key } = await setup(t);
  const good = await proof(key, { htu: TOKEN });
  t.is((await tokenRequest(s, service, { grant_type: 'client_credentials' }, good)).status, 200);
  assertOAuthError(
    t,
    await tokenRequest(s, service, { grant_type: 'client_credentials' }, good),
    400,
    'invalid_dpop_proof',
  );
  // Built from the Host header, the URI would be 127.0.0.1: refused.
  const hostBased = await proof(key, { htu: `${s.url}/token` });
  assertOAuthError(
    t,
    await tokenRequest(s, service, { grant_type: 'client_credentials' }, hostBased),
    400,
    'invalid_dpop_proof',
  );
  assertOAuthError(
    t,
    await tokenRequest(s, service, { grant_type: 'client_credentials' }, 'garbage'),
    400,
    'invalid_dpop_proof',
  );
  const twice = await fetch(`${s.url}/token`, {
    method: 'POST',
    headers: [
      ['content-type', 'application/x-www-form-urlencoded'],
      ['authorization', basic(service.client_id, service.client_secret ?? '')],
      ['dpop', await proof(key, { htu: TOKEN })],
      ['dpop', await proof(key, { htu: TOKEN })],
    ],
    body: 'grant_type=client_credentials',
  });
  t.is(twice.status, 400);
  t.is(((await twice.json()) as { error: string }).error, 'invalid_dpop_proof');
});

test('a client created with dpop_bound_access_tokens must send a proof', async (t) => {
  const { s, key } = await setup(t);
  const bound = await createClient(s, {
    name: 'must',
    grantTypes: ['client_credentials'],
    dpopBoundAccessTokens: true,
  });
  assertOAuthError(
    t,
    await tokenRequest(s, bound, { grant_type: 'client_credentials' }),
    400,
    'invalid_dpop_proof',
  );
  const ok = await tokenRequest(
    s,
    bound,
    { grant_type: 'client_credentials' },
    await proof(key, { htu: TOKEN }),
  );
  t.is(ok.body.token_type, 'DPoP');
});

test('/me: DPoP with a proof (ath, htm, htu) works; a bound token as Bearer is 401 with a DPoP challenge', async (t) => {
  const { s, service, key } = await setup(t);
  const res = await tokenRequest(
    s,
    service,
    { grant_type: 'client_credentials' },
    await proof(key, { htu: TOKEN }),
  );
  const access = res.body.access_token as string;
  const meUri = `${ISSUER}/me`;
  const ok = await resource(s, '/me', access, {
    dpop: await proof(key, { htm: 'GET', htu: meUri, accessToken: access }),
  });
  t.is(ok.status, 200, JSON.stringify(ok.body));

  const asBearer = await resource(s, '/me', access, { scheme: 'Bearer' });
  t.is(asBearer.status, 401);
  t.regex(asBearer.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_token"/);

  const noProof = await resource(s, '/me', access);
  t.is(noProof.status, 401);
  t.regex(noProof.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_dpop_proof"/);

  const cases: Record<string, string> = {
    'no ath': await proof(key, { htm: 'GET', htu: meUri }),
    'wrong method': await proof(key, { htm: 'POST', htu: meUri, accessToken: access }),
    'wrong uri': await proof(key, { htm: 'GET', htu: `${ISSUER}/logout`, accessToken: access }),
    'other key': await proof(await dpopKey(), { htm: 'GET', htu: meUri, accessToken: access }),
  };
  for (const [label, p] of Object.entries(cases)) {
    const r = await resource(s, '/me', access, { dpop: p });
    t.is(r.status, 401, label);
    t.regex(r.headers.get('www-authenticate') ?? '', /error="invalid_dpop_proof"/, label);
  }
  // The proof that worked once does not work again.
  const replayed = await proof(key, { htm: 'GET', htu: meUri, accessToken: access });
  t.is((await resource(s, '/me', access, { dpop: replayed })).status, 200);
  t.is((await resource(s, '/me', access, { dpop: replayed })).status, 401);

  // An unbound token presented with the DPoP scheme is not a DPoP token.
  const plain = (await tokenRequest(s, service, { grant_type: 'client_credentials' })).body
    .access_token as string;
  const unbound = await resource(s, '/me', plain, {
    dpop: await proof(key, { htm: 'GET', htu: meUri, accessToken: plain }),
  });
  t.is(unbound.status, 401);
  t.regex(unbound.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_token"/);
  // ...and without credentials both schemes are offered.
  const none = await getJson(`${s.url}/me`);
  t.regex(none.headers.get('www-authenticate') ?? '', /^Bearer realm="tessera", DPoP algs="[^"]*ES256/);
});

test('a public client: password grant with DPoP binds the refresh token; another key or none is invalid_grant', async (t) => {
  const { s, spa, user, key } = await setup(t);
  const login = await tokenRequest(
    s,
    spa,
    { grant_type: 'password', username: user.username, password: user.password },
    await proof(key, { htu: TOKEN }),
  );
  t.is(login.status, 200, JSON.stringify(login.body));
  t.is(login.body.token_type, 'DPoP');
  const rt = login.body.refresh_token as string;

  assertOAuthError(
    t,
    await tokenRequest(s, spa, { grant_type: 'refresh_token', refresh_token: rt }),
    400,
    'invalid_grant',
  );
  const other = await proof(await dpopKey(), { htu: TOKEN });
  assertOAuthError(
    t,
    await tokenRequest(s, spa, { grant_type: 'refresh_token', refresh_token: rt }, other),
    400,
    'invalid_grant',
  );
  // Those refusals spent nothing: the right key still refreshes, and the child stays bound.
  const ok = await tokenRequest(
    s,
    spa,
    { grant_type: 'refresh_token', refresh_token: rt },
    await proof(key, { htu: TOKEN }),
  );
  t.is(ok.status, 200, JSON.stringify(ok.body));
  t.is(ok.body.token_type, 'DPoP');
  t.deepEqual(decodeJwt(ok.body.access_token as string).cnf, { jkt: await thumbprint(key) });
  const child = ok.body.refresh_token as string;
  assertOAuthError(
    t,
    await tokenRequest(s, spa, { grant_type: 'refresh_token', refresh_token: child }),
    400,
    'invalid_grant',
  );
  // Narrowing the scope takes the transactional path: the binding holds there too.
  assertOAuthError(
    t,
    await tokenRequest(
      s,
      spa,
      { grant_type: 'refresh_token', refresh_token: child, scope: 'read' },
      await proof(await dpopKey(), { htu: TOKEN }),
    ),
    400,
    'invalid_grant',
  );
  const narrowed = await tokenRequest(
    s,
    spa,
    { grant_type: 'refresh_token', refresh_token: child, scope: 'read' },
    await proof(key, { htu: TOKEN }),
  );
  t.is(narrowed.status, 200, JSON.stringify(narrowed.body));
});

test('a confidential client: its refresh tokens stay unbound, its access tokens are bound per request', async (t) => {
  const { s, user, key } = await setup(t);
  const app = await createClient(s, { name: 'app', grantTypes: ['password', 'refresh_token'] });
  const login = await tokenRequest(
    s,
    app,
    { grant_type: 'password', username: user.username, password: user.password },
    await proof(key, { htu: TOKEN }),
  );
  t.is(login.body.token_type, 'DPoP');
  const plain = await tokenRequest(s, app, {
    grant_type: 'refresh_token',
    refresh_token: login.body.refresh_token as string,
  });
  t.is(plain.status, 200, JSON.stringify(plain.body));
  t.is(plain.body.token_type, 'Bearer');
});

test('DPOP_NONCE=true: use_dpop_nonce with a DPoP-Nonce header, then the retry with the nonce works', async (t) => {
  const { s, service, key } = await setup(t, { DPOP_NONCE: 'true' });
  const first = await tokenRequest(
    s,
    service,
    { grant_type: 'client_credentials' },
    await proof(key, { htu: TOKEN }),
  );
  assertOAuthError(t, first, 400, 'use_dpop_nonce');
  const nonce = first.headers.get('dpop-nonce');
  t.truthy(nonce);
  const retry = await tokenRequest(
    s,
    service,
    { grant_type: 'client_credentials' },
    await proof(key, { htu: TOKEN, nonce: nonce as string }),
  );
  t.is(retry.status, 200, JSON.stringify(retry.body));
  t.is(retry.headers.get('dpop-nonce'), nonce, 'every answer carries the current nonce');
  const forged = await tokenRequest(
    s,
    service,
    { grant_type: 'client_credentials' },
    await proof(key, { htu: TOKEN, nonce: 'AAAA' }),
  );
  assertOAuthError(t, forged, 400, 'use_dpop_nonce');
  // Requests without a proof are not affected.
  t.is((await tokenRequest(s, service, { grant_type: 'client_credentials' })).status, 200);
});

test('metadata lists dpop_signing_alg_values_supported, asymmetric only', async (t) => {
  const { s } = await setup(t);
  const md = await getJson(`${s.url}/.well-known/oauth-authorization-server`);
  const algs = md.body.dpop_signing_alg_values_supported as string[];
  t.true(
    algs.includes('ES256') && algs.includes('EdDSA') && algs.includes('RS256') && algs.includes('PS256'),
  );
  t.false(algs.some((a) => a === 'none' || a.startsWith('HS')));
});

test('admin API: dpop_bound_access_tokens on create, GET and PATCH; a DPoP admin token works with a proof', async (t) => {
  const { s, key } = await setup(t);
  const admin = await createClient(s, { name: 'ops', grantTypes: ['client_credentials'], isAdmin: true });
  const issued = await tokenRequest(
    s,
    admin,
    { grant_type: 'client_credentials', scope: 'admin' },
    await proof(key, { htu: TOKEN }),
  );
  const access = issued.body.access_token as string;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: {
        authorization: `DPoP ${access}`,
        dpop: await proof(key, { htm: method, htu: `${ISSUER}${path}`, accessToken: access }),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const created = await call('POST', '/admin/clients', {
    name: 'bound',
    grant_types: ['client_credentials'],
    dpop_bound_access_tokens: true,
  });
  t.is(created.status, 201, JSON.stringify(created.body));
  t.is(created.body.dpop_bound_access_tokens, true);
  const id = created.body.client_id as string;
  const patched = await call('PATCH', `/admin/clients/${id}`, { dpop_bound_access_tokens: false });
  t.is(patched.status, 200, JSON.stringify(patched.body));
  t.is(patched.body.dpop_bound_access_tokens, false);
  t.is((await call('GET', `/admin/clients/${id}`)).body.dpop_bound_access_tokens, false);
  const refused = await call('PATCH', `/admin/clients/${id}`, { dpop_bound_access_tokens: 'yes' });
  t.true(refused.status >= 400 && refused.status < 500, String(refused.status));
  // The same bound admin token as Bearer: refused.
  const asBearer = await resource(s, '/admin/clients', access, { scheme: 'Bearer' });
  t.is(asBearer.status, 401);
});

test('/logout with a DPoP-bound token and its proof ends the session', async (t) => {
  const { s, spa, user, key } = await setup(t);
  const login = await tokenRequest(
    s,
    spa,
    { grant_type: 'password', username: user.username, password: user.password },
    await proof(key, { htu: TOKEN }),
  );
  const access = login.body.access_token as string;
  const out = await resource(s, '/logout', access, {
    method: 'POST',
    dpop: await proof(key, { htm: 'POST', htu: `${ISSUER}/logout`, accessToken: access }),
  });
  t.is(out.status, 204);
  const after = await resource(s, '/me', access, {
    dpop: await proof(key, { htm: 'GET', htu: `${ISSUER}/me`, accessToken: access }),
  });
  t.is(after.status, 401);
});
