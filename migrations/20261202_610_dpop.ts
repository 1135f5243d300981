import type { Knex } from 'knex';

// Why: DPoP (RFC 9449, docs/dpop.md). `dpop_proofs` is the replay cache of proofs (RFC 9449 §11.1)
// where Postgres holds the shared state (and Redis' fallback): only a digest of key and `jti`,
// kept a couple of minutes. `clients.dpop_bound_access_tokens` marks clients that must send proofs
// (RFC 9449 §5.2); `refresh_families.dpop_jkt` binds a public client's refresh tokens to its key
// (RFC 9449 §5). Expand only: new table, nullable or defaulted columns the previous release ignores.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('dpop_proofs', (t) => {
    t.text('id').primary();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at'], 'dpop_proofs_expiry');
  });
  await knex.schema.alterTable('clients', (t) => {
    t.boolean('dpop_bound_access_tokens').notNullable().defaultTo(false);
  });
  await knex.schema.alterTable('refresh_families', (t) => {
    t.text('dpop_jkt');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('refresh_families', (t) => {
    t.dropColumn('dpop_jkt');
  });
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('dpop_bound_access_tokens');
  });
  await knex.schema.dropTable('dpop_proofs');
}
