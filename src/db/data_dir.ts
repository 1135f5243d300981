import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** The embedded database folder holds argon2 hashes and encrypted keys: owner only. */
const PRIVATE_DIR_MODE = 0o700;

/** The group and other permission bits: none of them is ever set under DATA_DIR. */
export const OWNER_ONLY = 0o077;

/**
 * For everything this process creates there (the lock file, keys/, PGlite's folders and files).
 * PGlite also sets modes with explicit chmods, which no umask narrows: owner_only_pglite.ts
 * strips those, and narrowFileModes() tidies what an older release left behind.
 */
const PRIVATE_UMASK = OWNER_ONLY;

export class DataDirAccessible extends Error {
  constructor(dir: string, mode: number) {
    const octal = (mode & 0o777).toString(8).padStart(3, '0');
    super(
      `DATA_DIR ${dir} is readable by other users (mode ${octal}); it holds password hashes: ` +
        `run \`chmod -R go= ${dir}\` and start again`,
    );
    this.name = 'DataDirAccessible';
  }
}

/**
 * Creates DATA_DIR owner-only (0700) or checks that an existing one is, and sets the 077 umask
 * for the files PGlite will create. A folder that group or others can enter is refused: its
 * files were created readable by everyone (docs/security.md).
 */
export function preparePrivateDataDir(dataDir: string): string {
  const dir = path.resolve(dataDir);
  process.umask(PRIVATE_UMASK);
  let created = false;
  try {
    statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    created = true;
  }
  if (created) chmodSync(dir, PRIVATE_DIR_MODE);
  const { mode } = statSync(dir);
  if ((mode & OWNER_ONLY) !== 0) throw new DataDirAccessible(dir, mode);
  narrowFileModes(dir);
  return dir;
}

/**
 * Removes group and other bits from every file and folder under `dir` (symlinks are left alone).
 * Defence in depth behind the 0700 folder: a copy or backup of the folder stays private too.
 */
export function narrowFileModes(dir: string): void {
  for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, entry);
    try {
      const { mode } = lstatSync(file);
      if ((mode & 0o170000) !== 0o120000 && (mode & OWNER_ONLY) !== 0) chmodSync(file, mode & 0o7700);
    } catch {
      // Removed meanwhile (PGlite rotates WAL files): nothing to narrow.
    }
  }
}
