import test from 'ava';
import { calculateJwkThumbprint } from 'jose';
import { useServer } from '../helpers/app.js';
import { dpopKey, proof } from '../helpers/dpop.js';
import { basic, createClient, postForm } from '../helpers/oauth.js';

// tessera_dpop_proofs_total{result} (docs/monitoring.md): every outcome of the one proof check,
// at /token and at a resource, with a fixed label set and nothing of the proof in it.
const ISSUER = 'http://tessera.test';
const TOKEN = `${ISSUER}/token`;

function sample(text: string, result: string): number {
  const m = new RegExp(`^tessera_dpop_proofs_total\\{result="${result}"\\} (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

test('tessera_dpop_proofs_total counts accepted, rejected, nonce_required and replayed proofs', async (t) => {
  const s = await useServer(t, { env: { DPOP_NONCE: 'true' } });
  const service = await createClient(s, {
    name: 'svc',
    grantTypes: ['client_credentials'],
    audiences: [ISSUER],
  });
  const bound = await createClient(s, {
    name: 'must',
    grantTypes: ['client_credentials'],
    dpopBoundAccessTokens: true,
  });
  const key = await dpopKey();
  const token = (client: typeof service, dpop?: string) =>
    postForm(
      `${s.url}/token`,
      { grant_type: 'client_credentials' },
      {
        authorization: basic(client.client_id, client.client_secret ?? ''),
        ...(dpop ? { dpop } : {}),
      },
    );

  const first = await token(service, await proof(key, { htu: TOKEN }));
  t.is(first.status, 400);
  const nonce = first.headers.get('dpop-nonce') as string;
  const good = await proof(key, { htu: TOKEN, nonce });
  const issued = await token(service, good);
  t.is(issued.status, 200, JSON.stringify(issued.body));
  t.is((await token(service, good)).status, 400); // the same jti again
  t.is((await token(service, 'not-a-proof')).status, 400);
  t.is((await token(bound)).status, 400); // a client that must use DPoP, without a proof
  const access = issued.body.access_token as string;
  const me = await fetch(`${s.url}/me`, {
    headers: {
      authorization: `DPoP ${access}`,
      dpop: await proof(key, { htm: 'GET', htu: `${ISSUER}/me`, accessToken: access }),
    },
  });
  t.is(me.status, 200);

  const text = await (await fetch(`${s.url}/metrics`)).text();
  t.is(sample(text, 'nonce_required'), 1);
  t.is(sample(text, 'accepted'), 2);
  t.is(sample(text, 'replayed'), 1);
  t.is(sample(text, 'rejected'), 2);
  const labels = [...text.matchAll(/^tessera_dpop_proofs_total\{(.*)\} /gm)].map((m) => m[1]);
  t.true(labels.every((l) => /^result="(accepted|rejected|nonce_required|replayed)"$/.test(l ?? '')));
  t.false(text.includes(await calculateJwkThumbprint(key.publicJwk, 'sha256')));
});
