import test from 'ava';
import { decodeJwt } from 'jose';
import { auditOf } from '../helpers/admin.js';
import { type TestServer, useServer } from '../helpers/app.js';
import {
  APP_ORIGIN,
  authorizationRequest,
  CookieJar,
  createCodeClient,
  REDIRECT_URI,
  signIn,
} from '../helpers/authorize.js';
import { assertOAuthError, basic, createUser, postForm } from '../helpers/oauth.js';

/**
 * Every session end is an audit row stamped with the request that caused it (docs/audit.md): the
 * browser's logout of its login session of /authorize, and the end of the session an authorization
 * code started when the code is presented again (RFC 6749 §4.1.2).
 */

type Client = Awaited<ReturnType<typeof createCodeClient>>;

/** A browser's POST from the app's origin with the jar's cookies; the answer's cookies go back in. */
async function browserPost(url: string, form: Record<string, string>, jar: CookieJar, requestId: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      origin: APP_ORIGIN,
      'x-request-id': requestId,
      ...jar.header(),
    },
    body: new URLSearchParams(form).toString(),
  });
  jar.store(res.headers);
  return res.status;
}

/** Signs in at /authorize (the login cookie in `jar`) and redeems the code from the app's origin. */
async function signedInBrowser(s: TestServer, client: Client) {
  const user = await createUser(s);
  const request = authorizationRequest(client.client_id);
  const jar = new CookieJar();
  const back = await signIn(s, request.params, user, jar);
  const status = await browserPost(
    `${s.url}/token`,
    {
      grant_type: 'authorization_code',
      client_id: client.client_id,
      code: back.query.get('code') as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: request.pair.verifier,
    },
    jar,
    'req-code',
  );
  if (status !== 200) throw new Error(`code grant answered ${status}`);
  return { user, jar };
}

test('cookie-mode /logout audits the end of the login session with the request’s stamp', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s, {
    isPublic: true,
    allowedOrigins: [APP_ORIGIN],
    refreshCookie: true,
  });
  const { user, jar } = await signedInBrowser(s, client);
  const [login] = await s.services.db('login_sessions').where({ user_id: user.id });
  t.truthy(login, 'the sign-in left a login session');
  // No bearer token: the refresh cookie names the session, the login cookie the sign-in.
  t.is(await browserPost(`${s.url}/logout`, { client_id: client.client_id }, jar, 'req-logout'), 204);
  const ended = (await auditOf(s, 'session.ended', { username: user.username })).filter(
    (e) => e.requestId === 'req-logout',
  );
  const loginEnd = ended.find((e) => e.sessionId === login.id);
  t.like(loginEnd, {
    actor: client.client_id,
    ip: '127.0.0.1',
    userId: user.id,
    clientId: null,
    detail: { reason: 'logout', kind: 'login' },
  });
  t.is(ended.length, 2, 'the refresh family and the login session, one row each');
});

test('a replayed code audits the end of its session with the replaying request’s stamp', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const user = await createUser(s);
  const request = authorizationRequest(client.client_id);
  const back = await signIn(s, request.params, user);
  const redeem = (requestId: string) =>
    postForm(
      `${s.url}/token`,
      {
        grant_type: 'authorization_code',
        code: back.query.get('code') as string,
        redirect_uri: REDIRECT_URI,
        code_verifier: request.pair.verifier,
      },
      { authorization: basic(client.client_id, client.client_secret as string), 'x-request-id': requestId },
    );
  const first = await redeem('req-first');
  t.is(first.status, 200);
  const sid = decodeJwt(first.body.access_token as string).sid as string;
  assertOAuthError(t, await redeem('req-replay'), 400, 'invalid_grant');
  const [ended] = (await auditOf(s, 'session.ended', { clientId: client.client_id })).filter(
    (e) => e.sessionId === sid,
  );
  t.like(ended, {
    actor: client.client_id,
    ip: '127.0.0.1',
    requestId: 'req-replay',
    userId: user.id,
    detail: { reason: 'code_reuse' },
  });
});
