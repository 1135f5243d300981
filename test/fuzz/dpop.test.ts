import { randomUUID } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { exportJWK, SignJWT } from 'jose';
import { startServer, type TestServer } from '../helpers/app.js';
import { dpopKey } from '../helpers/dpop.js';
import { basic, createClient, postForm, type TestClient } from '../helpers/oauth.js';

/**
 * Malformed DPoP proofs (RFC 9449 §4.3) at /token and at /me: every one is a clean 400
 * invalid_dpop_proof (or use_dpop_nonce) / 401 with a DPoP challenge, never a 5xx. FUZZ_RUNS sets
 * the runs (`npm run fuzz`).
 */
const RUNS = Number(process.env.FUZZ_RUNS) || 150;
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const ISSUER = 'http://tessera.test';

/** What undici sends at all: header values are Latin-1 without CR, LF or NUL. */
const sendable = (v: string) => /^[\t\x20-\x7e\x80-\xff]*$/.test(v);

const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64url');

interface Fixture {
  s: TestServer;
  svc: TestClient;
  boundToken: string;
}
let fixture: Promise<Fixture> | undefined;

function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const s = await startServer({ env: { RATE_LIMIT_CLIENT_PER_MINUTE: '100000000' } });
    const svc = await createClient(s, { name: 'fuzz', grantTypes: ['client_credentials'] });
    const key = await dpopKey();
    const proof = await new SignJWT({
      htm: 'POST',
      htu: `${ISSUER}/token`,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
    })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk })
      .sign(key.privateKey);
    const res = await postForm(
      `${s.url}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic(svc.client_id, svc.client_secret ?? ''), dpop: proof },
    );
    if (res.status !== 200) throw new Error(JSON.stringify(res.body));
    return { s, svc, boundToken: res.body.access_token as string };
  })();
  return fixture;
}

test.after.always(async () => {
  if (fixture) await (await fixture).s.close();
});

const json = fc.jsonValue({ maxDepth: 2 });

/** Proofs that look like proofs: real signatures over hostile headers and claims, or hostile bytes. */
function proofs(): fc.Arbitrary<Promise<string>> {
  const signedWith = fc
    .record({
      typ: fc.oneof(fc.constant('dpop+jwt'), fc.string(), json),
      alg: fc.constantFrom('ES256', 'none', 'HS256', 'RS256', 'EdDSA', 'ES256K', ''),
      jwk: fc.oneof(fc.constant('public'), fc.constant('private'), json),
      htm: fc.oneof(fc.constant('POST'), fc.constant('GET'), json),
      htu: fc.oneof(fc.constant(`${ISSUER}/token`), fc.constant(`${ISSUER}/me`), fc.webUrl(), json),
      iat: fc.oneof(fc.constant('now'), fc.integer(), fc.double(), json),
      jti: fc.oneof(fc.uuid(), fc.string({ maxLength: 400 }), json),
      extra: fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 3 }),
    })
    .map(async (r) => {
      const key = await dpopKey();
      const jwk =
        r.jwk === 'public' ? key.publicJwk : r.jwk === 'private' ? await exportJWK(key.privateKey) : r.jwk;
      const claims: Record<string, unknown> = {
        ...r.extra,
        htm: r.htm,
        htu: r.htu,
        iat: r.iat === 'now' ? Math.floor(Date.now() / 1000) : r.iat,
        jti: r.jti,
      };
      const header = b64(JSON.stringify({ typ: r.typ, alg: r.alg, jwk }));
      const body = b64(JSON.stringify(claims));
      // A real ES256 signature over exactly these hostile bytes, whatever the header says (jose
      // would refuse to sign "none", HS* or a non-finite iat, which are what is being fuzzed).
      const signature = Buffer.from(
        await crypto.subtle.sign(
          { name: 'ECDSA', hash: 'SHA-256' },
          key.privateKey,
          Buffer.from(`${header}.${body}`),
        ),
      ).toString('base64url');
      return `${header}.${body}.${signature}`;
    });
  const raw = fc
    .oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((p) => p.join('.')),
      fc
        .tuple(json, json, fc.string())
        .map(([h, c, s]) => `${b64(JSON.stringify(h))}.${b64(JSON.stringify(c))}.${b64(s)}`),
      fc.string({ minLength: 4000, maxLength: 9000 }),
    )
    .map(async (v) => v);
  return fc.oneof(signedWith, raw);
}

test('malformed proofs at /token: 400 invalid_dpop_proof, never a 5xx', async (t) => {
  const { s, svc } = await setup();
  await fc.assert(
    fc.asyncProperty(proofs(), async (made) => {
      const dpop = await made;
      fc.pre(sendable(dpop));
      const res = await postForm(
        `${s.url}/token`,
        { grant_type: 'client_credentials' },
        { authorization: basic(svc.client_id, svc.client_secret ?? ''), dpop },
      );
      if (res.status === 200) return true;
      return res.status === 400 && res.body.error === 'invalid_dpop_proof';
    }),
    { numRuns: RUNS, seed: SEED },
  );
  t.pass();
});

test('malformed proofs at /me: 401 with a DPoP challenge, never a 5xx', async (t) => {
  const { s, boundToken } = await setup();
  await fc.assert(
    fc.asyncProperty(proofs(), async (made) => {
      const dpop = await made;
      fc.pre(sendable(dpop));
      const res = await fetch(`${s.url}/me`, { headers: { authorization: `DPoP ${boundToken}`, dpop } });
      const body = (await res.json()) as Record<string, unknown>;
      return (
        res.status === 401 &&
        body.error === 'invalid_dpop_proof' &&
        /^DPoP .*error="invalid_dpop_proof"/.test(res.headers.get('www-authenticate') ?? '')
      );
    }),
    { numRuns: RUNS, seed: SEED },
  );
  t.pass();
});
