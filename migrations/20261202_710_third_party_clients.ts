import type { Knex } from 'knex';

// Why: clients no admin created (docs/mcp.md). `clients.kind` tells an admin's first-party clients
// from RFC 7591 registrations, which get the third-party limits and a consent page. RFC 7592 needs
// the registration access token (only its SHA-256 is stored) and the metadata as registered.
// A user's consent to a third-party client is remembered per client, scope and resource until
// CONSENT_TTL. A metadata-document client gets an inert `clients` row (kind `metadata_document`,
// no grants, scopes or redirect URIs: its document supplies them at each use), so its codes,
// sessions and audit events keep their foreign keys and an admin can disable it.
// Expand only: a column with a default and two new tables; the previous release reads neither.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.text('kind').notNullable().defaultTo('first_party');
  });
  await knex.schema.createTable('client_registrations', (t) => {
    t.text('client_id').primary().references('clients.id').onDelete('CASCADE');
    t.text('access_token_hash').notNullable();
    t.jsonb('metadata').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
  });
  await knex.schema.createTable('consents', (t) => {
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('client_id').notNullable();
    // The granted scope, its tokens sorted, and the `resource` asked for ('' when none).
    t.text('scope').notNullable();
    t.text('resource').notNullable();
    t.timestamp('granted_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.primary(['user_id', 'client_id', 'scope', 'resource']);
    t.index(['expires_at'], 'consents_expiry');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('consents');
  await knex.schema.dropTable('client_registrations');
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('kind');
  });
}
