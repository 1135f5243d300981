import type { Knex } from 'knex';

// Why: without Redis, several instances keep their denylist in process memory (docs/scaling.md,
// "Postgres only"). Every row written to `revocations` now also sends a Postgres NOTIFY on
// `tessera_revocations` with `<kind> <expires-at ms> <value>`, delivered at commit, so every
// instance learns of a logout, revocation or reuse detection within milliseconds. A trigger rather
// than application code, so that every writer notifies: this release, the CLI, and the previous
// release during a rolling upgrade. Expand-only: older code neither sees nor needs it.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION tessera_notify_revocation() RETURNS trigger AS $$
    BEGIN
      PERFORM pg_notify(
        'tessera_revocations',
        NEW.kind || ' ' || floor(extract(epoch from NEW.expires_at) * 1000)::bigint || ' ' || NEW.value
      );
      RETURN NULL;
    END;
    $$ LANGUAGE plpgsql`);
  await knex.raw(`
    CREATE TRIGGER revocations_notify
    AFTER INSERT OR UPDATE ON revocations
    FOR EACH ROW EXECUTE FUNCTION tessera_notify_revocation()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER IF EXISTS revocations_notify ON revocations');
  await knex.raw('DROP FUNCTION IF EXISTS tessera_notify_revocation()');
}
