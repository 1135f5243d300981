import type { Knex } from 'knex';

// Why: the durable record of every access-token revocation (docs/redis.md). Redis holds the fast
// denylist, but Redis can restart empty; this table is what it is rebuilt from, so no revocation
// is ever lost. Rows are useless once `expires_at` (the blocked token's exp) has passed.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('revocations', (t) => {
    t.text('kind').notNullable();
    t.text('value').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.text('reason');
    t.primary(['kind', 'value']);
    t.index(['expires_at'], 'revocations_expiry');
  });
  await knex.raw(
    "ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check CHECK (kind IN ('jti','sid'))",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('revocations');
}
