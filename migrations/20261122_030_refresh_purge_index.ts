import type { Knex } from 'knex';

// Why: the scheduled purge deletes families revoked before a cutoff. Without this index that
// DELETE scans the whole table; partial, because live families (revoked_at NULL) are the bulk.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('refresh_families', (t) => {
    t.index(['revoked_at'], 'refresh_families_revoked', { predicate: knex.whereNotNull('revoked_at') });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('refresh_families', (t) => {
    t.dropIndex(['revoked_at'], 'refresh_families_revoked');
  });
}
