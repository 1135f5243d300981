import test from 'ava';
import type { Knex } from 'knex';
import { connectDatabase } from '../../src/db/connect.js';
import { StoreError } from '../../src/errors.js';
import { guarded } from '../../src/stores/backend_errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { postgresBinDir, ThrowawayPostgres } from '../helpers/throwaway_postgres.js';

// What the driver really throws when Postgres drops a connection in the middle of a transaction
// (a fast or immediate shutdown sends 57P01 or just closes the socket): the store boundary must
// call it an outage. pg_terminate_backend of the transaction's own session is that, on demand.
// A real server is needed: DATABASE_URL's, or a throwaway one when only the binaries are there.
const bin = postgresBinDir();
const run = process.env.DATABASE_URL || bin ? test.serial : test.serial.skip;
const tag = process.env.DATABASE_URL || bin ? '' : ' [needs DATABASE_URL or PostgreSQL binaries]';

let throwaway: Promise<ThrowawayPostgres> | undefined;
test.after.always('stop the throwaway Postgres', async () => (await throwaway)?.destroy());

async function realDatabase(): Promise<TestDatabase> {
  if (process.env.DATABASE_URL) return createTestDatabase({ migrate: false });
  throwaway ??= (async () => {
    const pg = new ThrowawayPostgres(bin as string);
    await pg.init();
    await pg.start();
    return pg;
  })();
  const { url } = await throwaway;
  const db = connectDatabase({ url, dataDir: null });
  return { db, url, drop: () => db.destroy() };
}

/** A store whose transaction loses its connection after its first statement. */
class InterruptedTransaction {
  constructor(private readonly db: Knex) {}

  async run(settleMs: number): Promise<void> {
    await this.db.transaction(async (trx) => {
      const { rows } = await trx.raw('SELECT pg_backend_pid() AS pid');
      await this.db.raw('SELECT pg_terminate_backend(?)', [rows[0].pid]);
      // Let the client see the termination (or not yet: both orders happen under load).
      if (settleMs) await new Promise((r) => setTimeout(r, settleMs));
      await trx.raw('SELECT 1');
    });
  }
}

for (const settleMs of [0, 200]) {
  run(
    `a transaction whose connection is terminated is StoreError unavailable (settle ${settleMs} ms)${tag}`,
    async (t) => {
      const database = await realDatabase();
      t.teardown(() => database.drop());
      const raw = await t.throwsAsync(() => new InterruptedTransaction(database.db).run(settleMs));
      t.log(`the driver's error: ${raw?.message}`);
      const err = await t.throwsAsync(() =>
        guarded(new InterruptedTransaction(database.db), 'database').run(settleMs),
      );
      t.true(err instanceof StoreError, `${err?.message}`);
      t.is((err as StoreError).code, 'unavailable');
      t.is((err as StoreError).dependency, 'database');
      // The pool recovers on its own: the next statement gets a fresh connection.
      t.is((await database.db.raw('SELECT 1 AS one')).rows[0].one, 1);
    },
  );
}
