import type { Knex } from 'knex';

// Why: browser and mobile apps use the authorization code flow (RFC 6749 §4.1 with PKCE), which
// needs the client's registered redirect URIs (compared exactly, RFC 9700 §2.1), the web origins
// allowed to call the token endpoints with credentials (CORS), and whether the client keeps its
// refresh token in an HttpOnly cookie instead of the JSON body (docs/browser-apps.md).
// Expand only: every column has a default, so the previous release keeps reading and writing rows.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.specificType('redirect_uris', 'text[]').notNullable().defaultTo('{}');
    t.specificType('allowed_origins', 'text[]').notNullable().defaultTo('{}');
    t.boolean('refresh_cookie').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('refresh_cookie');
    t.dropColumn('allowed_origins');
    t.dropColumn('redirect_uris');
  });
}
