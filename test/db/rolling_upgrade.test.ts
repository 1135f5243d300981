import { PassThrough } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { createLogger } from '../../src/observability.js';
import { useServer } from '../helpers/app.js';
import { cli, cliEnv } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { clientCredentials, createClient } from '../helpers/oauth.js';

// Rolling upgrades and rollbacks (docs/upgrades.md): the current code against a database that a
// newer release has already migrated. Real Postgres with DATABASE_URL (production: migrations are
// required, never applied), PGlite otherwise (embedded: pending ones are applied on start).

const NEWER = '29991231_900_from_a_newer_release';

async function databaseFromTheFuture(t: ExecutionContext): Promise<TestDatabase> {
  const database = await createTestDatabase();
  t.teardown(() => database.drop());
  // What a newer release's expand-only migration leaves behind: a new column and its record.
  await database.db.raw('ALTER TABLE users ADD COLUMN nickname text');
  await database.db('knex_migrations').insert({ name: NEWER, batch: 99, migration_time: new Date() });
  return database;
}

/** One of this release's migrations, undone as if the database predated it. */
const OWN = '20261201_202_rate_limits';
async function undoOwnMigration(database: TestDatabase) {
  await database.db.schema.dropTable('rate_limits');
  await database.db('knex_migrations').where({ name: OWN }).del();
}

function capturedLog() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  return { log: createLogger('info', stream), lines };
}

test.serial(
  'an instance starts and serves on a database with a newer migration, and logs its name',
  async (t) => {
    const database = await databaseFromTheFuture(t);
    const { log, lines } = capturedLog();
    const s = await useServer(t, { database, log });
    const app = await createClient(s, { name: 'svc', grantTypes: ['client_credentials'] });
    t.is((await clientCredentials(s, app)).status, 200, 'it serves');
    const warning = lines.find((l) => Array.isArray(l.unknownMigrations));
    t.truthy(warning, 'the unknown migrations are logged');
    t.deepEqual(warning?.unknownMigrations, [NEWER]);
    t.is(warning?.level, 40);
  },
);

test.serial('production refuses to start only when one of its own migrations is pending', async (t) => {
  if (!process.env.DATABASE_URL) {
    t.pass('embedded mode applies its pending migrations on start (covered by every other test)');
    return;
  }
  const database = await databaseFromTheFuture(t);
  await undoOwnMigration(database);
  const own = OWN;
  const err = await t.throwsAsync(useServer(t, { database }));
  t.regex(err?.message ?? '', /1 pending migration\(s\).*tessera migrate/);
  t.true(err?.message.includes(own), 'names the pending migration');
});

test.serial(
  'tessera migrate --status lists applied, pending and unknown migrations; migrate applies only its own',
  async (t) => {
    const database = await databaseFromTheFuture(t);
    if (!database.url) {
      // The embedded CLI needs its own data folder; the PGlite test database lives in memory.
      t.pass('the embedded CLI is covered in test/cli/cli.test.ts');
      return;
    }
    await undoOwnMigration(database);
    const own = OWN;
    // Not the KEK: a migration job must not need the key that opens the signing keys.
    const env = cliEnv(t, database, { KEY_ENCRYPTION_KEY: '' });

    const status = await cli(['migrate', '--status', '--json'], env);
    t.is(status.code, 0, status.stderr);
    const body = JSON.parse(status.stdout) as { applied: string[]; pending: string[]; unknown: string[] };
    t.deepEqual(body.pending, [own]);
    t.deepEqual(body.unknown, [NEWER]);
    t.true(body.applied.includes(NEWER));
    t.false(body.applied.includes(own));

    const migrated = await cli(['migrate', '--json'], env);
    t.is(migrated.code, 0, migrated.stderr);
    t.deepEqual(JSON.parse(migrated.stdout).applied, [own]);
    const after = JSON.parse((await cli(['migrate', '--status', '--json'], env)).stdout);
    t.deepEqual(after.pending, []);
    t.deepEqual(after.unknown, [NEWER]);

    const human = await cli(['migrate', '--status'], env);
    t.regex(human.stdout, new RegExp(`${NEWER}.*newer release`));
  },
);
