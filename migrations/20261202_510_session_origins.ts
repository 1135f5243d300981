import type { Knex } from 'knex';

// Why: ending a session must also end the browser sign-in it came from (docs/sessions.md), so an
// authorization code and the refresh family it starts remember the login session of /authorize
// that issued the code. Nullable, no default needed: the previous release neither reads nor
// writes these columns, and a family without one (password grant, older rows) simply has none.
// Login sessions are ended by deleting their row, so no foreign key: a dangling id means "ended".
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('authorization_codes', (t) => {
    t.uuid('login_session_id');
  });
  await knex.schema.alterTable('refresh_families', (t) => {
    t.uuid('login_session_id');
  });
  // Ending all of a user's sessions deletes the user's pending codes: found by user.
  await knex.schema.alterTable('authorization_codes', (t) => {
    t.index(['user_id'], 'authorization_codes_user');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('authorization_codes', (t) => {
    t.dropIndex(['user_id'], 'authorization_codes_user');
    t.dropColumn('login_session_id');
  });
  await knex.schema.alterTable('refresh_families', (t) => {
    t.dropColumn('login_session_id');
  });
}
