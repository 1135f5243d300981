import test from 'ava';
import { decodeJwt } from 'jose';
import { useServer } from '../helpers/app.js';
import { authorizationRequest, createCodeClient, REDIRECT_URI, signIn } from '../helpers/authorize.js';
import { assertOAuthError, basic, createUser, postForm } from '../helpers/oauth.js';

/**
 * A code is bounded by its client as it is when the code is redeemed, as every refresh is
 * (docs/sessions.md, src/sessions/bounds.ts): a scope or audience removed between /authorize and
 * the token request is not in the first token, and a code none of whose audiences is still
 * allowed is invalid_grant. Found by the session model (test/model/).
 */

type Server = Awaited<ReturnType<typeof useServer>>;

async function issueCode(s: Server, audiences: string[]) {
  const client = await createCodeClient(s, { audiences });
  const user = await createUser(s);
  const request = authorizationRequest(client.client_id, { scope: 'read write' });
  const res = await signIn(s, request.params, user);
  const code = res.query.get('code') as string;
  const redeem = () =>
    postForm(
      `${s.url}/token`,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: request.pair.verifier,
      },
      { authorization: basic(client.client_id, client.client_secret as string) },
    );
  return { client, redeem };
}

test('a scope or audience the client lost after /authorize is not in the token of its code', async (t) => {
  const s = await useServer(t);
  const { client, redeem } = await issueCode(s, ['https://api.example', 'https://other.example']);
  await s.services.clientAccounts.update(client.client_id, {
    scopes: ['read'],
    audiences: ['https://api.example'],
  });
  const res = await redeem();
  t.is(res.status, 200, JSON.stringify(res.body));
  t.is(res.body.scope, 'read');
  t.deepEqual(decodeJwt(res.body.access_token as string).aud, 'https://api.example');
  // The session keeps only what is still allowed: its stored grant is narrowed too.
  const sid = decodeJwt(res.body.access_token as string).sid as string;
  const family = await s.services.db('refresh_families').where({ id: sid }).first();
  t.is(family.scope, 'read');
});

test('a code none of whose audiences the client still has is invalid_grant and starts no session', async (t) => {
  const s = await useServer(t);
  const { client, redeem } = await issueCode(s, ['https://api.example']);
  await s.services.clientAccounts.update(client.client_id, { audiences: ['https://elsewhere.example'] });
  const res = await redeem();
  assertOAuthError(t, res, 400, 'invalid_grant');
  const live = await s.services
    .db('refresh_families')
    .where({ client_id: client.client_id })
    .whereNull('revoked_at');
  t.is(live.length, 0);
});
