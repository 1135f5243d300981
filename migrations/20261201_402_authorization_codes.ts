import type { Knex } from 'knex';

// Why: authorization codes (RFC 6749 §4.1.2) must be single-use and bound to the client, the
// redirect URI and the PKCE challenge (RFC 7636 §4.4); several instances share them, so they live
// in Postgres. Only the SHA-256 of a code is stored. `used_at IS NULL` is the single-use condition
// of the one UPDATE that redeems a code; `family_id` names the session a code started, which a
// second redemption revokes (RFC 6749 §4.1.2); `reused_at` lets the winner of a race learn that a
// replay arrived before its session existed. New table: the previous release never reads it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('authorization_codes', (t) => {
    t.text('code_hash').primary();
    t.text('client_id').notNullable().references('clients.id').onDelete('CASCADE');
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('redirect_uri').notNullable();
    t.text('code_challenge').notNullable();
    t.text('scope').notNullable();
    t.jsonb('audience').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.uuid('family_id');
    t.timestamp('reused_at', { useTz: true });
    t.index(['expires_at'], 'authorization_codes_expiry');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('authorization_codes');
}
