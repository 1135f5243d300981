import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';

type Migration = { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> };

/**
 * Migrations are TypeScript in migrations/ and compiled JavaScript in dist/migrations; this source
 * finds whichever sits next to the running code, so `tsx` and `node dist/` behave the same.
 */
class DirectoryMigrationSource implements Knex.MigrationSource<string> {
  private readonly dir = fileURLToPath(new URL('../../migrations/', import.meta.url));

  async getMigrations(): Promise<string[]> {
    return readdirSync(this.dir)
      .filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
      .sort();
  }

  getMigrationName(file: string): string {
    // The same migration must have the same name whether it ran from .ts or .js.
    return file.replace(/\.(ts|js)$/, '');
  }

  async getMigration(file: string): Promise<Migration> {
    return (await import(pathToFileURL(`${this.dir}${file}`).href)) as Migration;
  }
}

/**
 * Rolling upgrades (docs/upgrades.md): the database may carry migrations this code does not know,
 * written by a newer release that is being rolled out (or rolled back from). Every migration is
 * backward compatible with the previous release, so those are reported, never refused; knex's
 * own check would call the migration directory corrupt.
 */
const config = () => ({
  migrationSource: new DirectoryMigrationSource(),
  disableMigrationsListValidation: true,
});

export interface MigrationStatus {
  /** Every migration recorded in the database, oldest first (ours and unknown ones). */
  applied: string[];
  /** Ours, not yet applied: a production instance refuses to start while there are any. */
  pending: string[];
  /** Applied by a newer release: logged at start, otherwise ignored. */
  unknown: string[];
}

/** Applies pending migrations and returns their names. */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(config())) as [number, string[]];
  return applied;
}

/** What `tessera migrate --status` prints, and what a production start checks. */
export async function migrationStatus(db: Knex): Promise<MigrationStatus> {
  const source = new DirectoryMigrationSource();
  const ours = new Set((await source.getMigrations()).map((f) => source.getMigrationName(f)));
  const [completed, pending] = (await db.migrate.list(config())) as [
    { name: string }[] | string[],
    { file: string }[] | string[],
  ];
  const applied = completed.map((c) => (typeof c === 'string' ? c : c.name).replace(/\.(ts|js)$/, ''));
  return {
    applied,
    pending: pending.map((p) => source.getMigrationName(typeof p === 'string' ? p : p.file)),
    unknown: applied.filter((name) => !ours.has(name)),
  };
}

/** Names of our migrations not yet applied (production start refuses to run with any). */
export async function pendingMigrations(db: Knex): Promise<string[]> {
  return (await migrationStatus(db)).pending;
}
