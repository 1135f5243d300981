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

/** Applies pending migrations and returns their names. */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource: new DirectoryMigrationSource() })) as [
    number,
    string[],
  ];
  return applied;
}

/** Names of migrations not yet applied (production start refuses to run with any). */
export async function pendingMigrations(db: Knex): Promise<string[]> {
  const [, pending] = (await db.migrate.list({ migrationSource: new DirectoryMigrationSource() })) as [
    unknown[],
    { file: string }[] | string[],
  ];
  return pending.map((p) => (typeof p === 'string' ? p : p.file));
}
