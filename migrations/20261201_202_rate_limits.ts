import type { Knex } from 'knex';

// Why: without Redis, rate limits must still be shared by every instance (docs/scaling.md,
// "Postgres only"), so rate-limiter-flexible keeps its counters here (its RateLimiterPostgres
// layout: key, points, expire in ms). Created by a migration rather than by the library at run
// time, so the server needs no DDL rights. UNLOGGED: counters are written on every /token request
// and need no WAL; a crash or failover forgets them, exactly like a Redis restart would.
// Expand-only: a new table that older code never reads.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE UNLOGGED TABLE rate_limits (
      key varchar(255) PRIMARY KEY,
      points integer NOT NULL DEFAULT 0,
      expire bigint
    )`);
  // The library deletes rows that expired an hour ago every five minutes.
  await knex.raw('CREATE INDEX rate_limits_expire ON rate_limits (expire)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_limits');
}
