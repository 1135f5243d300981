import { randomBytes } from 'node:crypto';
import test from 'ava';
import knexFactory, { type Knex } from 'knex';
import { connectDatabase } from '../../src/db/connect.js';
import { migrateLatest } from '../../src/db/migrate.js';

export interface TestDatabase {
  db: Knex;
  /** Connection string of the per-file database (real Postgres only). */
  url: string | undefined;
  drop(): Promise<void>;
}

/** Which backends this run uses; printed by test/run.js and asserted by tests that need Redis. */
export const mode = {
  postgres: Boolean(process.env.DATABASE_URL),
  redis: Boolean(process.env.REDIS_URL),
};

/**
 * A fresh, migrated database for one test file: on real Postgres a `CREATE DATABASE` with a
 * random name (dropped afterwards), otherwise an in-memory PGlite. Files run in parallel safely.
 */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    const db = connectDatabase({ url: undefined, dataDir: null });
    if (options.migrate !== false) await migrateLatest(db);
    return { db, url: undefined, drop: () => db.destroy() };
  }
  const name = `tessera_t_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  const db = connectDatabase({ url: url.toString(), dataDir: null });
  if (options.migrate !== false) await migrateLatest(db);
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.destroy();
      await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.destroy();
    },
  };
}

let shared: Promise<TestDatabase> | undefined;

/**
 * The database of the current test file: ava runs each file in its own process, so this is one
 * database per file, shared by that file's tests (which use unique names) and dropped after it.
 */
export function fileDatabase(): Promise<TestDatabase> {
  shared ??= createTestDatabase();
  return shared;
}

test.after.always('drop the per-file database', async () => {
  if (shared) await (await shared).drop();
});
