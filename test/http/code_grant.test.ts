import test from 'ava';
import { testClock, useServer } from '../helpers/app.js';
import { authorizationRequest, createCodeClient, REDIRECT_URI, signIn } from '../helpers/authorize.js';
import { assertOAuthError, basic, createUser, getJson, postForm } from '../helpers/oauth.js';

type Client = Awaited<ReturnType<typeof createCodeClient>>;

/** POST /token grant_type=authorization_code: Basic for confidential clients, client_id for public ones. */
function redeem(url: string, client: Client, fields: Record<string, string>) {
  const auth: Record<string, string> = client.client_secret
    ? { authorization: basic(client.client_id, client.client_secret) }
    : {};
  const body = client.client_secret ? fields : { client_id: client.client_id, ...fields };
  return postForm(`${url}/token`, { grant_type: 'authorization_code', ...body }, auth);
}

async function codeFor(s: Parameters<typeof signIn>[0], client: Client, extra: Record<string, string> = {}) {
  const user = await createUser(s);
  const request = authorizationRequest(client.client_id, extra);
  const res = await signIn(s, request.params, user);
  return { code: res.query.get('code') as string, verifier: request.pair.verifier, user };
}

test('a confidential and a public client redeem a code with the verifier; the token is a user token', async (t) => {
  const s = await useServer(t);
  for (const isPublic of [false, true]) {
    const client = await createCodeClient(s, { isPublic });
    const { code, verifier, user } = await codeFor(s, client, { scope: 'read write' });
    const res = await redeem(s.url, client, { code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
    t.is(res.status, 200, JSON.stringify(res.body));
    t.is(res.body.token_type, 'Bearer');
    t.is(res.body.scope, 'read write');
    t.regex(String(res.body.refresh_token), /^[A-Za-z0-9_-]{43}$/);
    t.is(res.headers.get('cache-control'), 'no-store');
    const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${res.body.access_token}` });
    t.is(me.body.username, user.username);
    t.is(me.body.client_id, client.client_id);
    t.truthy(me.body.sid);
  }
});

test('a wrong verifier, redirect_uri or client is invalid_grant; a missing verifier invalid_request', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const other = await createCodeClient(s);
  const { code, verifier } = await codeFor(s, client);
  const good = { code, redirect_uri: REDIRECT_URI, code_verifier: verifier };
  assertOAuthError(
    t,
    await redeem(s.url, client, { ...good, code_verifier: `${verifier.slice(0, -2)}xy` }),
    400,
    'invalid_grant',
  );
  assertOAuthError(
    t,
    await redeem(s.url, client, { ...good, code_verifier: good.code }),
    400,
    'invalid_grant',
  );
  assertOAuthError(
    t,
    await redeem(s.url, client, { ...good, redirect_uri: `${REDIRECT_URI}/x` }),
    400,
    'invalid_grant',
  );
  assertOAuthError(t, await redeem(s.url, other, good), 400, 'invalid_grant');
  assertOAuthError(
    t,
    await redeem(s.url, client, { code, redirect_uri: REDIRECT_URI }),
    400,
    'invalid_request',
  );
  assertOAuthError(t, await redeem(s.url, client, { ...good, code: 'not-a-code' }), 400, 'invalid_grant');
  // None of those spent the code: the rightful client still redeems it.
  t.is((await redeem(s.url, client, good)).status, 200);
});

test('a code lives AUTHORIZATION_CODE_TTL', async (t) => {
  const clock = testClock();
  const s = await useServer(t, { now: clock.now, env: { AUTHORIZATION_CODE_TTL: '30' } });
  const client = await createCodeClient(s);
  const { code, verifier } = await codeFor(s, client);
  clock.advance(31);
  assertOAuthError(
    t,
    await redeem(s.url, client, { code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
    400,
    'invalid_grant',
  );
});

test('a used code presented again is invalid_grant and revokes the session it started', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const { code, verifier } = await codeFor(s, client);
  const fields = { code, redirect_uri: REDIRECT_URI, code_verifier: verifier };
  const first = await redeem(s.url, client, fields);
  t.is(first.status, 200);
  assertOAuthError(t, await redeem(s.url, client, fields), 400, 'invalid_grant');
  const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${first.body.access_token}` });
  t.is(me.status, 401, 'the access token of that session stops at once');
  const refresh = await postForm(
    `${s.url}/token`,
    { grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token) },
    { authorization: basic(client.client_id, client.client_secret as string) },
  );
  assertOAuthError(t, refresh, 400, 'invalid_grant');
});

test('concurrent redemptions of one code: at most one wins, and a replay revokes it', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const { code, verifier } = await codeFor(s, client);
  const fields = { code, redirect_uri: REDIRECT_URI, code_verifier: verifier };
  const answers = await Promise.all([1, 2, 3].map(() => redeem(s.url, client, fields)));
  for (const a of answers)
    t.true(a.status === 200 || a.body.error === 'invalid_grant', JSON.stringify(a.body));
  t.true(answers.filter((a) => a.status === 200).length <= 1);
  for (const a of answers.filter((x) => x.status === 200)) {
    const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${a.body.access_token}` });
    t.is(me.status, 401, 'the replays revoked the winner');
  }
});

test('a client without the authorization_code grant may not redeem codes', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const { code, verifier } = await codeFor(s, client);
  const pw = await s.services.clientAccounts.create({ name: 'pw', grantTypes: ['password'] });
  const res = await postForm(
    `${s.url}/token`,
    { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier },
    { authorization: basic(pw.client_id, pw.client_secret as string) },
  );
  assertOAuthError(t, res, 400, 'unauthorized_client');
});
