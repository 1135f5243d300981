import test from 'ava';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import {
  up as addDefaultAudienceFlag,
  down as dropDefaultAudienceFlag,
} from '../../migrations/20261201_101_client_default_audience.js';
import { ClientAccounts } from '../../src/endpoints/admin_clients.js';
import { PostgresClientStore } from '../../src/stores/postgres/clients.js';
import { useServer } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/database.js';
import { clientCredentials } from '../helpers/oauth.js';

test.serial(
  'a client registered without --audience gets the ISSUER the server runs with, not the one at creation',
  async (t) => {
    const s = await useServer(t);
    const issuer = s.services.config.issuer;
    // As `tessera clients create` run without the server's settings would register it.
    const cli = new ClientAccounts({
      clients: new PostgresClientStore(s.database.db, 'http://localhost:8080'),
      issuer: 'http://localhost:8080',
      now: Date.now,
      facts: s.services.facts,
    });
    const created = await cli.create({ name: 'made by the CLI', grantTypes: ['client_credentials'] });
    const res = await clientCredentials(s, {
      client_id: created.client_id,
      client_secret: created.client_secret,
    });
    t.is(res.status, 200);
    const token = res.body.access_token as string;
    // What a resource server does with jose: audience and issuer both the server's ISSUER.
    const jwks = createRemoteJWKSet(new URL(`${s.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(token, jwks, { issuer, audience: issuer });
    t.is(payload.aud, issuer);
    const listed = (await s.services.clientAccounts.list()).clients.find(
      (c) => c.client_id === created.client_id,
    );
    t.deepEqual(listed?.audiences, [issuer]);
    t.true(listed?.default_audience);
  },
);

test.serial(
  'the migration marks rows that hold the ISSUER or the built-in localhost default as default',
  async (t) => {
    const database = await createTestDatabase();
    t.teardown(() => database.drop());
    const { db } = database;
    await dropDefaultAudienceFlag(db);
    const row = (id: string, audiences: string[]) => ({
      id,
      name: id,
      secret_hash: null,
      grant_types: ['password'],
      scopes: ['read'],
      audiences,
    });
    await db('clients').insert([
      row('c_cli_default', ['http://localhost:8080']),
      row('c_issuer', ['https://auth.example.com']),
      row('c_api', ['https://api.example.com']),
      row('c_two', ['https://auth.example.com', 'https://api.example.com']),
    ]);
    const previous = process.env.ISSUER;
    process.env.ISSUER = 'https://auth.example.com';
    try {
      await addDefaultAudienceFlag(db);
    } finally {
      if (previous === undefined) delete process.env.ISSUER;
      else process.env.ISSUER = previous;
    }
    const flags = Object.fromEntries(
      (await db('clients').select('id', 'audience_is_default')).map((r) => [r.id, r.audience_is_default]),
    );
    t.deepEqual(flags, { c_cli_default: true, c_issuer: true, c_api: false, c_two: false });
  },
);
