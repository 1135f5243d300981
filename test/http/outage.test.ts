import test from 'ava';
import { connectDatabase } from '../../src/db/connect.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { startServer } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/database.js';
import { createClient, createUser, getJson, passwordLogin } from '../helpers/oauth.js';
import { postgresBinDir, ThrowawayPostgres } from '../helpers/throwaway_postgres.js';

const bin = postgresBinDir();

(bin ? test : test.skip)(
  'database outage: 503 temporarily_unavailable, readyz down, then recovery without a restart [needs PostgreSQL binaries]',
  async (t) => {
    const pg = new ThrowawayPostgres(bin as string);
    t.teardown(() => pg.destroy());
    await pg.init();
    await pg.start();
    const db = connectDatabase({ url: pg.url, dataDir: null });
    await migrateLatest(db);
    const s = await startServer({ database: { db, url: pg.url, drop: () => db.destroy() } });
    t.teardown(() => s.close());
    const client = await createClient(s, { name: 'app', grantTypes: ['password'] });
    const user = await createUser(s);
    // A login needs the database (user lookup, new session), unlike a cached client's client_credentials.
    const token = () => passwordLogin(s, client, user.username, user.password);
    t.is((await token()).status, 200);

    await pg.stop();
    const down = await token();
    t.is(down.status, 503, JSON.stringify(down.body));
    t.is(down.body.error, 'temporarily_unavailable');
    t.truthy(down.headers.get('retry-after'));
    const ready = await getJson(`${s.url}/readyz`);
    t.is(ready.status, 503);
    t.is(ready.headers.get('retry-after'), '1', 'an outage says when to look again');
    t.is((ready.body.checks as Record<string, string>).database, 'down');
    // Endpoints that need no database keep answering.
    t.is((await getJson(`${s.url}/.well-known/jwks.json`)).status, 200);

    await pg.start();
    let recovered = 0;
    for (let i = 0; i < 50 && recovered !== 200; i++) {
      recovered = (await token()).status;
      if (recovered !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    t.is(recovered, 200);
    t.is((await getJson(`${s.url}/readyz`)).status, 200);
  },
);

test('the per-file test database helper gives isolated databases', async (t) => {
  const a = await createTestDatabase();
  const b = await createTestDatabase();
  t.teardown(async () => {
    await a.drop();
    await b.drop();
  });
  await a
    .db('users')
    .insert({ id: '00000000-0000-4000-8000-000000000001', username: 'only-in-a', password_hash: 'x' });
  t.is((await b.db('users').where({ username: 'only-in-a' })).length, 0);
});
