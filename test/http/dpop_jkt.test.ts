import test from 'ava';
import { calculateJwkThumbprint, decodeJwt } from 'jose';
import { useServer } from '../helpers/app.js';
import { authorizationRequest, createCodeClient, REDIRECT_URI, signIn } from '../helpers/authorize.js';
import { type DpopKey, dpopKey, proof } from '../helpers/dpop.js';
import { assertOAuthError, basic, createUser, postForm } from '../helpers/oauth.js';

// RFC 9449 §10: `dpop_jkt` at /authorize binds the code to a DPoP key; only a token request with
// a proof by that key redeems it (docs/dpop.md). On PGlite and on Postgres, like every test here.
const ISSUER = 'http://tessera.test';
const TOKEN = `${ISSUER}/token`;

const thumbprint = (key: DpopKey) => calculateJwkThumbprint(key.publicJwk, 'sha256');

type Server = Awaited<ReturnType<typeof useServer>>;
type Client = Awaited<ReturnType<typeof createCodeClient>>;

function redeem(s: Server, client: Client, fields: Record<string, string>, dpop?: string) {
  const auth: Record<string, string> = client.client_secret
    ? { authorization: basic(client.client_id, client.client_secret) }
    : {};
  const body = client.client_secret ? fields : { client_id: client.client_id, ...fields };
  return postForm(
    `${s.url}/token`,
    { grant_type: 'authorization_code', ...body },
    { ...auth, ...(dpop ? { dpop } : {}) },
  );
}

async function codeFor(s: Server, client: Client, extra: Record<string, string>) {
  const user = await createUser(s);
  const request = authorizationRequest(client.client_id, extra);
  const res = await signIn(s, request.params, user);
  const code = res.query.get('code');
  if (!code) throw new Error(`no code: ${res.location}`);
  return { code, redirect_uri: REDIRECT_URI, code_verifier: request.pair.verifier };
}

test('a code requested with dpop_jkt is redeemed only with a proof by that key', async (t) => {
  const s = await useServer(t);
  for (const isPublic of [true, false]) {
    const client = await createCodeClient(s, { isPublic });
    const key = await dpopKey();
    const other = await dpopKey();
    const fields = await codeFor(s, client, { dpop_jkt: await thumbprint(key) });
    assertOAuthError(t, await redeem(s, client, fields), 400, 'invalid_grant');
    assertOAuthError(
      t,
      await redeem(s, client, fields, await proof(other, { htu: TOKEN })),
      400,
      'invalid_grant',
    );
    // Neither refusal spent the code: the key the request named still redeems it.
    const ok = await redeem(s, client, fields, await proof(key, { htu: TOKEN }));
    t.is(ok.status, 200, JSON.stringify(ok.body));
    t.is(ok.body.token_type, 'DPoP');
    t.deepEqual(decodeJwt(ok.body.access_token as string).cnf, { jkt: await thumbprint(key) });
  }
});

test('a code requested without dpop_jkt is redeemed with any proof or none', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s, { isPublic: true });
  const bare = await redeem(s, client, await codeFor(s, client, {}));
  t.is(bare.status, 200, JSON.stringify(bare.body));
  t.is(bare.body.token_type, 'Bearer');
  const key = await dpopKey();
  const bound = await redeem(s, client, await codeFor(s, client, {}), await proof(key, { htu: TOKEN }));
  t.is(bound.body.token_type, 'DPoP');
});

test('a malformed dpop_jkt is an invalid_request redirect with state and iss, and no code', async (t) => {
  const s = await useServer(t);
  const client = await createCodeClient(s);
  const good = await thumbprint(await dpopKey());
  for (const bad of ['short', `${good}A`, `${good.slice(0, 42)}+`, `${good.slice(0, 42)}=`, good.slice(1)]) {
    const { params } = authorizationRequest(client.client_id, { dpop_jkt: bad });
    const res = await fetch(`${s.url}/authorize?${new URLSearchParams(params)}`, { redirect: 'manual' });
    t.is(res.status, 302, bad);
    const location = new URL(res.headers.get('location') ?? 'x:');
    t.is(`${location.origin}${location.pathname}`, REDIRECT_URI, bad);
    t.is(location.searchParams.get('error'), 'invalid_request', bad);
    t.is(location.searchParams.get('state'), params.state, bad);
    t.is(location.searchParams.get('iss'), ISSUER, bad);
    t.falsy(location.searchParams.get('code'), bad);
  }
});
