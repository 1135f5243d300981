import type { Knex } from 'knex';

// Why: the two kinds of principal Tessera authenticates. Secrets and passwords are stored only as
// hashes (SHA-256 for server-generated 256-bit client secrets, argon2id for human passwords).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.uuid('id').primary();
    t.text('username').notNullable().unique();
    t.text('password_hash').notNullable();
    t.specificType('roles', 'text[]').notNullable().defaultTo('{}');
    t.timestamp('password_changed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('disabled_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('clients', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    // NULL for public clients (token_endpoint_auth_method "none").
    t.text('secret_hash');
    t.specificType('grant_types', 'text[]').notNullable();
    t.specificType('scopes', 'text[]').notNullable();
    t.specificType('audiences', 'text[]').notNullable();
    t.boolean('can_introspect').notNullable().defaultTo(false);
    t.boolean('is_admin').notNullable().defaultTo(false);
    // Per-client overrides of the global lifetimes (seconds); NULL means "use the server setting".
    t.integer('access_token_ttl');
    t.integer('refresh_token_idle_ttl');
    t.integer('refresh_token_max_age');
    t.integer('refresh_reuse_leeway');
    t.timestamp('disabled_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('clients');
  await knex.schema.dropTable('users');
}
