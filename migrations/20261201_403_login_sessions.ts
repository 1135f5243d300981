import type { Knex } from 'knex';

// Why: the login page of /authorize sets a browser session cookie so a user who signed in is not
// asked again while it lives (LOGIN_SESSION_TTL). Every instance must recognise it, so it lives
// in Postgres; only the SHA-256 of the cookie value is stored. A password change or a disabled
// user ends it (checked against users.password_changed_at at use). New table: expand only.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('login_sessions', (t) => {
    t.uuid('id').primary();
    t.text('token_hash').notNullable().unique();
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at'], 'login_sessions_expiry');
    t.index(['user_id'], 'login_sessions_user');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('login_sessions');
}
