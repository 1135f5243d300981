import type { Knex } from 'knex';

// Why: a client registered without --audience used to store the ISSUER of the environment that
// created it (often a CLI run without the server's ISSUER, so http://localhost:8080), freezing a
// stale `aud` into every token it gets. "No audience registered" now means "the ISSUER at the time
// of the request": this flag says a row's audience is that default. Expand only: `audiences` keeps
// its value, so the previous release (which ignores the flag) runs unchanged beside this one.
//
// Existing rows are marked default when their only audience is the ISSUER of the environment
// running this migration (the server's, for `tessera migrate` and the embedded start) or the
// built-in default http://localhost:<port>, which never names a real API.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.boolean('audience_is_default').notNullable().defaultTo(false);
  });
  const issuer = process.env.ISSUER || `http://localhost:${process.env.PORT || '8080'}`;
  await knex('clients')
    .whereRaw('cardinality(audiences) = 1')
    .andWhere((q) =>
      q.whereRaw('audiences[1] = ?', [issuer]).orWhereRaw("audiences[1] ~ '^http://localhost:[0-9]+$'"),
    )
    .update({ audience_is_default: true });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('audience_is_default');
  });
}
