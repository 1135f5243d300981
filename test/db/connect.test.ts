import { createRequire } from 'node:module';
import test from 'ava';
import { connectDatabase } from '../../src/db/connect.js';

// ava runs this file in its own process, so the module cache shows what this file loaded.
test('a production database connection never loads PGlite; the embedded one does', async (t) => {
  const cache = createRequire(import.meta.url).cache;
  const pglite = () => Object.keys(cache).filter((k) => /knex-pglite|@electric-sql[\\/]pglite/.test(k));
  const pg = connectDatabase({ url: 'postgres://tessera@127.0.0.1:1/none', dataDir: null });
  t.deepEqual(pglite(), [], 'nothing of PGlite in a production process');
  await pg.destroy();
  const embedded = connectDatabase({ url: undefined, dataDir: null });
  t.true(pglite().length > 0);
  await embedded.destroy();
});
