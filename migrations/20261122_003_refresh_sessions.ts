import type { Knex } from 'knex';

// Why: one login is one refresh family (the `sid` of its access tokens). Tokens are stored only as
// SHA-256 digests; `spent_at IS NULL` is the single-use condition the rotation UPDATE checks, and
// `parent_id` lets the reuse leeway recognise "the immediately previous token".
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('refresh_families', (t) => {
    t.uuid('id').primary();
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('client_id').notNullable().references('clients.id').onDelete('CASCADE');
    t.text('scope').notNullable();
    t.jsonb('audience').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    // Absolute expiry: fixed at login, never moved by rotation.
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('revoked_at', { useTz: true });
    t.text('revoked_reason');
    t.index(['user_id', 'revoked_at', 'expires_at'], 'refresh_families_user_live');
    t.index(['expires_at'], 'refresh_families_expiry');
  });
  await knex.schema.createTable('refresh_tokens', (t) => {
    t.uuid('id').primary();
    t.uuid('family_id').notNullable().references('refresh_families.id').onDelete('CASCADE');
    t.uuid('parent_id');
    t.text('token_hash').notNullable().unique();
    t.text('client_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    // Idle expiry of this token.
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('spent_at', { useTz: true });
    t.index(['family_id'], 'refresh_tokens_family');
    t.index(['expires_at'], 'refresh_tokens_expiry');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('refresh_tokens');
  await knex.schema.dropTable('refresh_families');
}
