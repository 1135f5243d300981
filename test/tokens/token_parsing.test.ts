import test from 'ava';
import fc from 'fast-check';
import { decodeBasic } from '../../src/http/client_auth.js';
import { isCleanText } from '../../src/http/strict_input.js';
import { KeyRing } from '../../src/keys/keyring.js';
import { MemoryDenylist } from '../../src/stores/memory/denylist.js';
import { PostgresRevocationStore } from '../../src/stores/postgres/revocations.js';
import { PostgresSigningKeyStore } from '../../src/stores/postgres/signing_keys.js';
import { AccessTokenMinter, AccessTokenVerifier, TokenRejected } from '../../src/tokens/access_token.js';
import { fileDatabase } from '../helpers/database.js';

// Property tests of the token and credential parsers; FUZZ_RUNS raises the run count.
const runs = Number(process.env.FUZZ_RUNS) || 300;
const ISSUER = 'http://tessera.test';
const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64url');

async function tokens() {
  const { db } = await fileDatabase();
  const now = () => Date.now();
  const keys = new KeyRing({
    store: new PostgresSigningKeyStore(db),
    kek: new Uint8Array(Buffer.from('Qm3v8ZkT1xR6pWc0sJ4nH9yLbD2eGfA7uVqiEt5oNMw', 'base64url')),
    signingAlg: 'ES256',
    now,
  });
  await keys.initialise();
  const denylist = new MemoryDenylist(new PostgresRevocationStore(db), now);
  const verifier = new AccessTokenVerifier(keys, ISSUER, denylist, now);
  const minter = new AccessTokenMinter(keys, ISSUER, now);
  const good = await minter.mint({ subject: 'u1', clientId: 'c1', audience: ISSUER, scope: 'read', ttl: 60 });
  return { verifier, good: good.token, kid: good.kid };
}

/** The verifier's only failure is TokenRejected: nothing a caller sends makes it throw otherwise. */
async function rejectsCleanly(verifier: AccessTokenVerifier, token: string) {
  try {
    await verifier.verifyForIssuer(token);
    return false;
  } catch (err) {
    return err instanceof TokenRejected;
  }
}

test('any string is refused with TokenRejected, never another error', async (t) => {
  const { verifier } = await tokens();
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 300 }), async (s) => {
      t.true(await rejectsCleanly(verifier, s));
    }),
    { numRuns: runs },
  );
});

test('JWT-shaped strings with hostile headers and claims are refused cleanly', async (t) => {
  const { verifier, kid } = await tokens();
  const header = fc.record({
    alg: fc.constantFrom('none', 'HS256', 'ES256', 'RS256', 'EdDSA', 'ES512'),
    kid: fc.oneof(fc.constant(kid), fc.string()),
    typ: fc.constantFrom('at+jwt', 'JWT'),
    jwk: fc.option(fc.constant({ kty: 'oct', k: 'AAAA' }), { nil: undefined }),
    crit: fc.option(fc.constant(['exp']), { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(header, fc.jsonValue(), fc.uint8Array({ maxLength: 80 }), async (h, p, sig) => {
      const token = `${b64(JSON.stringify(h))}.${b64(JSON.stringify(p) ?? '')}.${b64(sig)}`;
      t.true(await rejectsCleanly(verifier, token));
    }),
    { numRuns: runs },
  );
});

test('changing any character of a valid token’s header or payload makes it invalid', async (t) => {
  const { verifier, good } = await tokens();
  t.is((await verifier.verifyForIssuer(good)).sub, 'u1');
  const signedPart = good.lastIndexOf('.');
  await fc.assert(
    fc.asyncProperty(fc.nat(signedPart - 1), fc.constantFrom(...'AZaz09-_.'), async (at, c) => {
      // The last character of a segment may carry unused bits: a change there can decode the same.
      fc.pre(good[at] !== c && good[at] !== '.' && good[at + 1] !== '.');
      t.true(await rejectsCleanly(verifier, `${good.slice(0, at)}${c}${good.slice(at + 1)}`));
    }),
    { numRuns: runs },
  );
});

test('Basic credentials: clean id and secret round-trip; any other bytes decode to clean text or nothing', (t) => {
  const clean = fc.string({ unit: 'grapheme', maxLength: 40 }).filter(isCleanText);
  const header = (bytes: Uint8Array | string) => `Basic ${Buffer.from(bytes).toString('base64')}`;
  fc.assert(
    fc.property(clean, clean, (id, secret) => {
      const encoded = `${encodeURIComponent(id)}:${encodeURIComponent(secret)}`;
      t.deepEqual(decodeBasic(header(encoded)), { id, secret });
    }),
    { numRuns: runs },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const decoded = decodeBasic(header(bytes));
      if (decoded) t.true(isCleanText(decoded.id) && isCleanText(decoded.secret));
    }),
    { numRuns: runs },
  );
  t.is(decodeBasic(header('c%00x:secret')), undefined);
  t.is(decodeBasic(header(Buffer.from([0x63, 0xff, 0x3a, 0x61]))), undefined);
  t.is(decodeBasic(header('%zz:secret')), undefined);
});
