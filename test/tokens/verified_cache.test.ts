import test from 'ava';
import { buildServices } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability.js';
import { TokenRejected } from '../../src/tokens/access_token.js';
import { VerifiedTokenCache } from '../../src/tokens/verified_cache.js';
import { TEST_HASHING, TEST_KEK, testClock } from '../helpers/app.js';
import { fileDatabase } from '../helpers/database.js';

async function setup() {
  const clock = testClock();
  // One database per file (PGlite boots are slow on a busy machine); each test has its own client.
  const database = await fileDatabase();
  const services = await buildServices(
    loadConfig({ ISSUER: 'http://cache.test', KEY_ENCRYPTION_KEY: TEST_KEK, LOG_LEVEL: 'silent' }),
    { db: database.db, now: clock.now, hashing: TEST_HASHING, log: createLogger('silent') },
  );
  const client = await services.clientAccounts.create({ name: 'cache', grantTypes: ['client_credentials'] });
  const mint = (ttl = 60, sid?: string) =>
    services.minter.mint({
      subject: 'svc',
      clientId: client.client_id,
      audience: 'http://cache.test',
      scope: 'read',
      ttl,
      ...(sid ? { sid } : {}),
    });
  return {
    clock,
    services,
    mint,
    async close() {
      await services.close();
    },
  };
}

const rejection = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return err instanceof TokenRejected ? err.reason : err;
};

test.serial('a verified token is answered from the cache until its exp, never after', async (t) => {
  const s = await setup();
  try {
    const { token } = await s.mint(30);
    await s.services.verifier.verify(token);
    t.is(s.services.verifier.verified.size, 1);
    const again = await s.services.verifier.verify(token);
    t.is(again.sub, 'svc');
    s.clock.advance(31);
    // Past exp by more than the 1 s tolerance: the cache must not answer.
    t.is(await rejection(s.services.verifier.verify(token)), 'expired');
  } finally {
    await s.close();
  }
});

test.serial('the denylist is still checked on every request for a cached token', async (t) => {
  const s = await setup();
  try {
    const { token, claims } = await s.mint(300, '00000000-0000-4000-8000-000000000001');
    await s.services.verifier.verify(token);
    await s.services.denylist.add([
      {
        kind: 'sid',
        value: claims.sid as string,
        expiresAt: new Date(s.clock.now() + 300_000),
        reason: 'test',
      },
    ]);
    t.is(await rejection(s.services.verifier.verify(token)), 'revoked');
  } finally {
    await s.close();
  }
});

test.serial('a cached token stops verifying as soon as its key is revoked', async (t) => {
  const s = await setup();
  try {
    const { token, kid } = await s.mint(300);
    await s.services.verifier.verify(token);
    await s.services.keyLifecycle.revoke(kid);
    t.is(await rejection(s.services.verifier.verify(token)), 'unknown_key');
  } finally {
    await s.close();
  }
});

test.serial('the audience is checked on every call, also for a cached token', async (t) => {
  const s = await setup();
  try {
    const { token } = await s.mint(300);
    await s.services.verifier.verify(token, { audiences: ['http://cache.test'] });
    t.is(
      await rejection(s.services.verifier.verify(token, { audiences: ['https://other.api'] })),
      'wrong_audience',
    );
  } finally {
    await s.close();
  }
});

test('the cache is bounded and evicts the least recently used token', (t) => {
  const cache = new VerifiedTokenCache(2);
  const key = {} as CryptoKey;
  const claims = (jti: string) => ({
    iss: 'i',
    sub: 's',
    aud: 'a',
    exp: 2_000_000_000,
    iat: 1,
    nbf: 1,
    jti,
    client_id: 'c',
  });
  const published = () => key;
  cache.set('d1', claims('1'), 'k', key);
  cache.set('d2', claims('2'), 'k', key);
  t.truthy(cache.get('d1', 1000, published, 1), 'd1 is now the most recently used');
  cache.set('d3', claims('3'), 'k', key);
  t.is(cache.size, 2);
  t.is(cache.get('d2', 1000, published, 1), undefined, 'd2 was the least recently used');
  t.truthy(cache.get('d1', 1000, published, 1));
  t.truthy(cache.get('d3', 1000, published, 1));
});
