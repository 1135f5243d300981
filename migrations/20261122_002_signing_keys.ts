import type { Knex } from 'knex';

// Why: signing keys live in the database so every instance signs with the same key and rotation
// is one transaction. Private parts are JWE-encrypted under KEY_ENCRYPTION_KEY (docs/keys.md); the
// public JWK is stored in clear for JWKS. The partial unique index guarantees one active key.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('signing_keys', (t) => {
    t.text('kid').primary();
    t.text('alg').notNullable();
    t.text('state').notNullable();
    t.jsonb('public_jwk').notNullable();
    t.text('private_jwe').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('activated_at', { useTz: true });
    t.timestamp('retired_at', { useTz: true });
    // Retired keys stay in JWKS until every token they signed has expired.
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
  });
  await knex.raw(
    "ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_state_check CHECK (state IN ('next','active','retired','revoked'))",
  );
  await knex.raw(
    "CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active'",
  );
  await knex.raw("CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('signing_keys');
}
