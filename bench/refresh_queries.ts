/**
 * Round trips and CPU of one refresh_token grant (issue 23 item 6). Instance A (this process,
 * knex 'query' events) counts the SQL statements of each refresh; instance B (a separate
 * `src/main.ts` process, production mode, default log level) answers `--n` refreshes one after
 * another and its CPU time (from /proc) is divided by n.
 *
 *   DATABASE_URL=postgres://… npx tsx bench/refresh_queries.ts [n]
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import knexFactory from 'knex';
import { createApp } from '../src/app.js';
import { buildServices } from '../src/compose.js';
import { loadConfig } from '../src/config.js';
import { connectDatabase } from '../src/db/connect.js';
import { migrateLatest } from '../src/db/migrate.js';
import { createLogger } from '../src/observability.js';

const KEK = 'Qm3v8ZkT1xR6pWc0sJ4nH9yLbD2eGfA7uVqiEt5oNMw';
const n = Number(process.argv[2] ?? 500);
const base = process.env.DATABASE_URL;
if (!base) throw new Error('DATABASE_URL is required');
const name = `tessera_refresh_${randomBytes(4).toString('hex')}`;
const admin = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
await admin.raw(`CREATE DATABASE ${name}`);
const url = new URL(base);
url.pathname = `/${name}`;
const dbUrl = url.toString();
const db = connectDatabase({ url: dbUrl, dataDir: null });
await migrateLatest(db);
const env = {
  ISSUER: 'http://tessera.test',
  KEY_ENCRYPTION_KEY: KEK,
  DATABASE_URL: dbUrl,
  RATE_LIMIT_CLIENT_PER_MINUTE: '1000000',
};
const a = await buildServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }), {
  log: createLogger('silent'),
  db,
  hashing: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
});
const serverA = createApp(a).listen(0, '127.0.0.1');
await new Promise((r) => serverA.once('listening', r));
const urlA = `http://127.0.0.1:${(serverA.address() as { port: number }).port}`;
const app = (await a.clientAccounts.create({
  name: 'app',
  grantTypes: ['password', 'refresh_token'],
})) as { client_id: string; client_secret: string };
const auth = `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}`;
const user = await a.userAccounts.create(`u${randomUUID()}`, 'correct horse battery', []);

async function token(at: string, form: Record<string, string>): Promise<Record<string, string>> {
  const res = await fetch(`${at}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
    body: new URLSearchParams(form).toString(),
  });
  const body = (await res.json()) as Record<string, string>;
  if (res.status !== 200) throw new Error(`token ${res.status} ${JSON.stringify(body)}`);
  return body;
}
const login = (username = user.username) =>
  token(urlA, { grant_type: 'password', username, password: 'correct horse battery' });

// Statements per refresh on A (the client's cache warm: a second refresh is the steady state).
const first = await login();
const scopeOf = first.scope ?? 'openid';
let refresh = first.refresh_token as string;
refresh = (await token(urlA, { grant_type: 'refresh_token', refresh_token: refresh }))
  .refresh_token as string;
const statements: string[] = [];
db.on('query', (q: { sql: string }) => statements.push(q.sql));
for (let i = 0; i < 5; i++)
  refresh = (await token(urlA, { grant_type: 'refresh_token', refresh_token: refresh }))
    .refresh_token as string;
db.removeAllListeners('query');
// A narrowing refresh (here `scope`) takes the rotation transaction: the family is checked first.
const narrowing: string[] = [];
db.on('query', (q: { sql: string }) => narrowing.push(q.sql));
const narrowed = await token(urlA, { grant_type: 'refresh_token', refresh_token: refresh, scope: scopeOf });
refresh = narrowed.refresh_token as string;
db.removeAllListeners('query');

// CPU per refresh on B.
const port = 20000 + Math.floor(Math.random() * 20000);
const b = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
  env: {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    NODE_ENV: 'production',
    ...env,
  },
  stdio: ['ignore', 'ignore', 'ignore'],
});
const urlB = `http://127.0.0.1:${port}`;
process.on('exit', () => b.kill('SIGKILL'));
for (let i = 0; ; i++) {
  if ((await fetch(`${urlB}/readyz`).catch(() => undefined))?.status === 200) break;
  if (i > 600) throw new Error('B did not start');
  await sleep(100);
}
const cpu = () => {
  const f = readFileSync(`/proc/${b.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) * (1e6 / 100); // utime + stime, clock ticks → µs
};
// Several families at once, as real clients would: rotation of one is serial by design.
const families = 10;
// One user per family: a user's number of live families is capped.
let chains: string[] = [];
for (let i = 0; i < families; i++) {
  // One at a time: logins queue for the password hasher.
  const u = await a.userAccounts.create(`u${randomUUID()}`, 'correct horse battery', []);
  chains.push((await login(u.username)).refresh_token as string);
}
for (let w = 0; w < 5; w++)
  chains = await Promise.all(
    chains.map(
      async (r) =>
        (await token(urlB, { grant_type: 'refresh_token', refresh_token: r })).refresh_token as string,
    ),
  );
const before = cpu();
const started = Date.now();
const rounds = Math.ceil(n / families);
for (let i = 0; i < rounds; i++)
  chains = await Promise.all(
    chains.map(
      async (r) =>
        (await token(urlB, { grant_type: 'refresh_token', refresh_token: r })).refresh_token as string,
    ),
  );
const spent = cpu() - before;
const done = rounds * families;
process.stdout.write(
  `${JSON.stringify(
    {
      statementsPerRefresh: statements.length / 5,
      statements: statements.slice(0, statements.length / 5),
      statementsPerNarrowingRefresh: narrowing.length,
      narrowingStatements: narrowing,
      refreshes: done,
      cpuUsPerRefresh: Math.round(spent / done),
      wallMsPerRound: Math.round((Date.now() - started) / rounds),
    },
    null,
    1,
  )}\n`,
);
b.kill('SIGTERM');
serverA.closeAllConnections();
serverA.close();
await a.close();
await db.destroy();
await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
await admin.destroy();
process.exit(0);
