import type { Knex } from 'knex';

// Why: RFC 9449 §10: an authorization request may name the thumbprint of the client's DPoP key
// (`dpop_jkt`); the code remembers it, and only a token request with a proof by that key redeems
// it (docs/dpop.md). Expand only: a nullable column the previous release neither writes nor reads
// (it would redeem such a code without the check, like every code before this release).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('authorization_codes', (t) => {
    t.text('dpop_jkt');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('authorization_codes', (t) => {
    t.dropColumn('dpop_jkt');
  });
}
