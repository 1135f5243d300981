import test from 'ava';
import { startServer } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/database.js';

test('instances starting together on one database agree on the first key', async (t) => {
  const database = await createTestDatabase();
  t.teardown(() => database.drop());
  const servers = await Promise.all([1, 2, 3].map(() => startServer({ database })));
  t.teardown(() => Promise.all(servers.map((s) => s.close())));
  const kids = servers.map((s) => s.services.keys.current().signer.kid);
  t.is(new Set(kids).size, 1, `signers: ${kids}`);
  const rows = await database.db('signing_keys').select('kid', 'state', 'private_jwe');
  t.is(rows.length, 2);
  t.deepEqual(rows.map((r) => r.state).sort(), ['active', 'next']);
  for (const r of rows) {
    t.regex(r.private_jwe, /^eyJ[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/, 'private key stored as compact JWE');
    t.false(r.private_jwe.includes('"d"'));
  }
  const jwks = await Promise.all(
    servers.map(async (s) => (await fetch(`${s.url}/.well-known/jwks.json`)).text()),
  );
  t.is(new Set(jwks).size, 1);
});

test('a wrong KEK refuses to start instead of minting new keys', async (t) => {
  const database = await createTestDatabase();
  t.teardown(() => database.drop());
  const first = await startServer({ database });
  await first.close();
  await t.throwsAsync(
    startServer({ database, env: { KEY_ENCRYPTION_KEY: 'Zp4rK8wq1Ls6Hd0XfNj3TcVy9aGuE2bmYiO7QxRteBk' } }),
    { message: /cannot decrypt signing key/ },
  );
});
