import test from 'ava';
import { useServer } from '../helpers/app.js';
import { authorizationRequest, createCodeClient, REDIRECT_URI, signIn } from '../helpers/authorize.js';
import { assertOAuthError, basic, createUser, postForm } from '../helpers/oauth.js';
import { me, refresh } from '../helpers/sessions.js';

/**
 * RFC 6749 §4.1.2 replay revocation is only for the code's own client (docs/sessions.md): a used
 * code presented by another client, or with a wrong verifier or redirect_uri, is invalid_grant and
 * changes nothing. And a code issued before its user was disabled is never redeemed.
 */

type Server = Awaited<ReturnType<typeof useServer>>;
type Client = Awaited<ReturnType<typeof createCodeClient>>;

function redeem(s: Server, client: Client, fields: Record<string, string>) {
  const auth: Record<string, string> = client.client_secret
    ? { authorization: basic(client.client_id, client.client_secret) }
    : {};
  const body = client.client_secret ? fields : { client_id: client.client_id, ...fields };
  return postForm(`${s.url}/token`, { grant_type: 'authorization_code', ...body }, auth);
}

async function codeFor(s: Server, client: Client) {
  const user = await createUser(s);
  const request = authorizationRequest(client.client_id);
  const res = await signIn(s, request.params, user);
  const fields = {
    code: res.query.get('code') as string,
    redirect_uri: REDIRECT_URI,
    code_verifier: request.pair.verifier,
  };
  return { user, fields };
}

test('a used code presented by another client or with a wrong verifier changes nothing', async (t) => {
  const s = await useServer(t);
  for (const isPublic of [true, false]) {
    const client = await createCodeClient(s, { isPublic });
    const attacker = await createCodeClient(s, { isPublic: true, name: 'other app' });
    const { fields } = await codeFor(s, client);
    const first = await redeem(s, client, fields);
    t.is(first.status, 200);
    // A leaked used code (history, logs, Referer), replayed by whoever holds it.
    assertOAuthError(t, await redeem(s, attacker, fields), 400, 'invalid_grant');
    assertOAuthError(
      t,
      await redeem(s, client, { ...fields, code_verifier: 'x'.repeat(43) }),
      400,
      'invalid_grant',
    );
    assertOAuthError(
      t,
      await redeem(s, client, { ...fields, redirect_uri: `${REDIRECT_URI}/x` }),
      400,
      'invalid_grant',
    );
    t.is((await me(s, first.body.access_token as string)).status, 200, 'the victim’s session lives');
    const next = await refresh(s, client, first.body.refresh_token as string);
    t.is(next.status, 200, JSON.stringify(next.body));
    // The rightful client presenting it again still revokes the session (RFC 6749 §4.1.2).
    assertOAuthError(t, await redeem(s, client, fields), 400, 'invalid_grant');
    t.is((await me(s, next.body.access_token as string)).status, 401);
  }
});

test('a code issued before the user was disabled cannot be redeemed', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const { user, fields } = await codeFor(s, client);
  // Straight on the store: only the grant's own check stands between the code and a session.
  await s.services.users.disable(user.id, new Date());
  assertOAuthError(t, await redeem(s, client, fields), 400, 'invalid_grant');
  t.is((await s.services.db('refresh_families').where({ user_id: user.id })).length, 0, 'no session started');
});

test('disabling a user ends the user’s pending codes; used ones stay for replay detection', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const used = await codeFor(s, client);
  t.is((await redeem(s, client, used.fields)).status, 200);
  const user = used.user;
  const request = authorizationRequest(client.client_id);
  const pending = await signIn(s, request.params, user);
  const rows = () => s.services.db('authorization_codes').where({ user_id: user.id });
  t.is((await rows()).length, 2);
  await s.services.userAccounts.disable({ id: user.id });
  const left = await rows();
  t.is(left.length, 1, 'the pending code is gone');
  t.truthy(left[0].used_at, 'the used one stays');
  assertOAuthError(
    t,
    await redeem(s, client, {
      code: pending.query.get('code') as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: request.pair.verifier,
    }),
    400,
    'invalid_grant',
  );
});
