import test, { type ExecutionContext } from 'ava';
import { cli, cliEnv } from '../helpers/cli.js';
import { fileDatabase } from '../helpers/database.js';

// `clients create --dpop` (docs/dpop.md): the client must send DPoP proofs.
async function envFor(t: ExecutionContext): Promise<Record<string, string>> {
  const database = process.env.DATABASE_URL ? await fileDatabase() : undefined;
  return cliEnv(t, database, { ISSUER: 'http://tessera.test' });
}

test.serial('clients create --dpop sets dpop_bound_access_tokens; without it the flag is off', async (t) => {
  const env = await envFor(t);
  t.is((await cli(['migrate'], env)).code, 0);
  const bound = await cli(['clients', 'create', '--name', 'SPA', '--public', '--dpop', '--json'], env);
  t.is(bound.code, 0, bound.stderr);
  const plain = await cli(['clients', 'create', '--name', 'Plain', '--public', '--json'], env);
  t.is(plain.code, 0, plain.stderr);
  const listed = JSON.parse((await cli(['clients', 'list', '--json'], env)).stdout) as {
    clients: { client_id: string; dpop_bound_access_tokens: boolean }[];
  };
  const flag = (id: string) => listed.clients.find((c) => c.client_id === id)?.dpop_bound_access_tokens;
  t.true(flag(JSON.parse(bound.stdout).client_id));
  t.false(flag(JSON.parse(plain.stdout).client_id));
  t.regex((await cli(['clients', 'create', '--help'], env)).stdout, /--dpop/);
});
