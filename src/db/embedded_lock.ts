import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { INSTALL_ROOT } from '../install_root.js';
import { narrowFileModes, preparePrivateDataDir } from './data_dir.js';

/** The PGlite cluster inside DATA_DIR (src/db/connect.ts opens it there). */
export const embeddedClusterPath = (dataDir: string) => path.join(dataDir, 'pgdata');

/** A process that must not create a database (a CLI command) found none where DATA_DIR points. */
export class EmbeddedDatabaseMissing extends Error {
  constructor(dataDir: string) {
    super(
      `no embedded database in ${dataDir} (DATA_DIR; a relative path starts at ${INSTALL_ROOT}). ` +
        'Start the server once (npm start) or run `tessera migrate` to create it, or set DATA_DIR ' +
        '(or DATABASE_URL) to the database you mean',
    );
    this.name = 'EmbeddedDatabaseMissing';
  }
}

export class EmbeddedDatabaseBusy extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `the embedded database in ${dataDir} is in use by process ${pid} (a running Tessera server?): ` +
        'stop it first, or use the admin API (/admin/*, docs/admin.md)',
    );
    this.name = 'EmbeddedDatabaseBusy';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite is a single-process database: two processes on one folder would corrupt it. A pid file
 * created with O_EXCL makes the second opener fail with a plain message; stale files are taken over.
 * Returns the release function.
 */
export function lockEmbeddedDatabase(dataDir: string, options: { create?: boolean } = {}): () => void {
  const file = path.join(path.resolve(dataDir), 'tessera.lock');
  if (options.create === false && !existsSync(embeddedClusterPath(dataDir))) {
    // Say who holds the folder if anyone does; otherwise where we looked. Create nothing.
    const holder = existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : 0;
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder))
      throw new EmbeddedDatabaseBusy(dataDir, holder);
    throw new EmbeddedDatabaseMissing(dataDir);
  }
  const dir = preparePrivateDataDir(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        // Released after the database closed: tidy the modes PGlite gave its files.
        narrowFileModes(dir);
        try {
          unlinkSync(file);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new EmbeddedDatabaseBusy(dataDir, pid);
      }
      unlinkSync(file);
    }
  }
  throw new Error(`cannot lock ${file}`);
}
