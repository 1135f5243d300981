import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { connectDatabase } from '../../src/db/connect.js';
import { DataDirAccessible, preparePrivateDataDir } from '../../src/db/data_dir.js';
import { lockEmbeddedDatabase } from '../../src/db/embedded_lock.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { refusedStart } from '../helpers/app.js';

const scratch = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-datadir-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
};

function* walk(dir: string): Generator<string> {
  yield dir;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else yield full;
  }
}

// The umask is process-wide: these run one at a time.
test.serial(
  'the embedded database is created owner-only: folder 0700, every file without group/other bits',
  async (t) => {
    const { dir, cleanup } = scratch();
    t.teardown(cleanup);
    process.umask(0o022);
    const dataDir = path.join(dir, 'data');
    // As the server opens and closes it: lock, database, then the lock's release.
    const release = lockEmbeddedDatabase(dataDir);
    const db = connectDatabase({ url: undefined, dataDir });
    await migrateLatest(db);
    await db.raw('create table probe (x text)');
    await db.raw("insert into probe values ('hash')");
    await db.destroy();
    release();
    t.is(statSync(dataDir).mode & 0o777, 0o700);
    const open = [...walk(dataDir)].filter((f) => (statSync(f).mode & 0o077) !== 0);
    t.deepEqual(open, [], 'no file or folder is group- or world-accessible');
    t.true([...walk(dataDir)].length > 10, 'PGlite wrote its files');
  },
);

test.serial(
  'N14: under umask 022, every file and folder PGlite writes is owner-only while the database runs',
  async (t) => {
    const { dir, cleanup } = scratch();
    t.teardown(cleanup);
    const before = process.umask(0o022);
    t.teardown(() => {
      process.umask(before);
    });
    const dataDir = path.join(dir, 'data');
    // No lock and no close: nothing tidies the modes afterwards, so this sees what PGlite wrote.
    const db = connectDatabase({ url: undefined, dataDir });
    t.teardown(() => db.destroy());
    await migrateLatest(db);
    await db.raw('create table probe (x text)');
    await db.raw("insert into probe values ('hash')");
    await db.raw('checkpoint');
    const files = [...walk(path.join(dataDir, 'pgdata'))];
    t.true(files.length > 10, 'PGlite wrote its files');
    const open = files
      .filter((f) => (statSync(f).mode & 0o077) !== 0)
      .map((f) => `${(statSync(f).mode & 0o777).toString(8)} ${path.relative(dataDir, f)}`);
    t.deepEqual(open.slice(0, 5), [], `${open.length} files or folders are group- or world-accessible`);
  },
);

test.serial('a group- or world-accessible DATA_DIR is refused with the fix in the message', (t) => {
  const { dir, cleanup } = scratch();
  t.teardown(cleanup);
  const open = path.join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o755);
  const err = t.throws(() => preparePrivateDataDir(open), { instanceOf: DataDirAccessible });
  t.regex(err?.message ?? '', /DATA_DIR .*mode 755.*chmod -R go=/);
});

test.serial('the server refuses to start on an accessible DATA_DIR, in one line', async (t) => {
  const { dir, cleanup } = scratch();
  t.teardown(cleanup);
  const open = path.join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  await refusedStart(
    t,
    { DATABASE_URL: '', REDIS_URL: '', DATA_DIR: open, KEYS_DIR: path.join(dir, 'keys'), PORT: '0' },
    /DATA_DIR/,
  );
});
