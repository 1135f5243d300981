import type { Knex } from 'knex';

// Why: the audit trail (docs/audit.md). Who logged in from where, which session a refresh-token
// reuse ended, which admin disabled a client: one row per security-relevant change, written in the
// same transaction as the change where there is one. Expand-only: a new table that the previous
// release never reads, so a rolling upgrade is safe.
//
// `id` orders the trail (newest first) and is the cursor of GET /admin/audit; `at` drives the
// AUDIT_RETENTION purge and the since/until filters. The subject columns are the filters an
// operator reaches for (username, client id); session id and kid are read with their event.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('type').notNullable();
    // Admin client id, `cli`, `system` (scheduled jobs), or the OAuth client that made the request.
    t.text('actor').notNullable();
    t.text('ip');
    t.text('request_id');
    t.text('username');
    t.uuid('user_id');
    t.text('client_id');
    t.text('session_id');
    t.text('kid');
    // Event-specific facts (a failure reason, changed field names); never a password, secret or token.
    t.jsonb('detail').notNullable().defaultTo('{}');
    t.index(['at'], 'audit_events_at');
    t.index(['type', 'id'], 'audit_events_type');
    t.index(['username', 'id'], 'audit_events_username');
    t.index(['client_id', 'id'], 'audit_events_client');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_events');
}
