/**
 * Revocation propagation delay (issue 23, docs/redis.md): instance A (this process) revokes an
 * access token; instance B (a separate `src/main.ts` process on the same database and Redis)
 * is asked by /introspect, back to back, until it answers inactive. Reports the median and the
 * maximum time from A's acknowledgement to B's refusal, and how often B's first check after the
 * acknowledgement already refused.
 *
 *   DATABASE_URL=postgres://… [REDIS_URL=redis://…] npx tsx bench/revocation_delay.ts [tries]
 *
 * Without REDIS_URL it measures the Postgres-only mode (LISTEN/NOTIFY).
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import knexFactory from 'knex';
import { createApp } from '../src/app.js';
import { buildServices } from '../src/compose.js';
import { loadConfig } from '../src/config.js';
import { connectDatabase } from '../src/db/connect.js';
import { migrateLatest } from '../src/db/migrate.js';
import { createLogger } from '../src/observability.js';

const KEK = 'Qm3v8ZkT1xR6pWc0sJ4nH9yLbD2eGfA7uVqiEt5oNMw';
const tries = Number(process.argv[2] ?? 20);
const base = process.env.DATABASE_URL;
if (!base) throw new Error('DATABASE_URL is required');
const redisUrl = process.env.REDIS_URL;

const name = `tessera_delay_${randomBytes(4).toString('hex')}`;
const admin = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
await admin.raw(`CREATE DATABASE ${name}`);
const url = new URL(base);
url.pathname = `/${name}`;
const dbUrl = url.toString();
const db = connectDatabase({ url: dbUrl, dataDir: null });
await migrateLatest(db);

const prefix = `delay_${randomBytes(4).toString('hex')}:`;
const env: Record<string, string> = {
  ISSUER: 'http://tessera.test',
  KEY_ENCRYPTION_KEY: KEK,
  DATABASE_URL: dbUrl,
  LOG_LEVEL: 'warn',
  ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix } : {}),
};
const config = loadConfig({ ...env, LOG_LEVEL: 'silent' });
const a = await buildServices(config, { log: createLogger('silent'), db });
const serverA = createApp(a).listen(0, '127.0.0.1');
await new Promise((r) => serverA.once('listening', r));

const rs = (await a.clientAccounts.create({
  name: 'rs',
  grantTypes: ['client_credentials'],
  audiences: ['https://api.example.com'],
  canIntrospect: true,
})) as { client_id: string; client_secret: string };
const auth = `Basic ${Buffer.from(`${rs.client_id}:${rs.client_secret}`).toString('base64')}`;

const portB = 20000 + Math.floor(Math.random() * 20000);
const b = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
  env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(portB), ...env },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const urlB = `http://127.0.0.1:${portB}`;
for (let i = 0; ; i++) {
  const res = await fetch(`${urlB}/readyz`).catch(() => undefined);
  if (res?.status === 200) break;
  if (i > 600) throw new Error('B did not start');
  await sleep(100);
}

async function activeOnB(token: string): Promise<boolean> {
  const res = await fetch(`${urlB}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
    body: new URLSearchParams({ token }).toString(),
  });
  const body = (await res.json()) as { active?: boolean };
  if (res.status !== 200) throw new Error(`introspect ${res.status} ${JSON.stringify(body)}`);
  return body.active === true;
}

const delays: number[] = [];
let firstRefused = 0;
const { user } = { user: await a.userAccounts.create(`u${randomUUID()}`, 'correct horse battery', []) };
for (let i = 0; i < tries; i++) {
  const minted = await a.minter.mint({
    subject: user.id,
    clientId: rs.client_id,
    audience: 'https://api.example.com',
    scope: 'read',
    ttl: 900,
    user: { username: user.username, roles: [] },
  });
  // Warm B: the signature check is cached, so what follows measures the denylist only.
  for (let w = 0; w < 3; w++) if (!(await activeOnB(minted.token))) throw new Error('not active on B');
  await sleep(150);
  const [, payload] = minted.token.split('.');
  const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString()) as {
    jti: string;
    exp: number;
  };
  await a.denylist.add([
    { kind: 'jti', value: claims.jti, expiresAt: new Date(claims.exp * 1000), reason: 'bench' },
  ]);
  const acked = performance.now();
  let checks = 0;
  for (;;) {
    checks++;
    if (!(await activeOnB(minted.token))) break;
    if (performance.now() - acked > 5000) throw new Error('never refused on B');
  }
  delays.push(performance.now() - acked);
  if (checks === 1) firstRefused++;
}
delays.sort((x, y) => x - y);
const median =
  ((delays[Math.floor((tries - 1) / 2)] as number) + (delays[Math.ceil((tries - 1) / 2)] as number)) / 2;
process.stdout.write(
  JSON.stringify({
    mode: redisUrl ? 'redis' : 'postgres-only',
    tries,
    medianMs: Number(median.toFixed(1)),
    maxMs: Number((delays.at(-1) as number).toFixed(1)),
    firstCheckRefused: `${firstRefused}/${tries}`,
  }) + '\n',
);
b.kill('SIGTERM');
serverA.closeAllConnections();
serverA.close();
await a.close();
await db.destroy();
await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
await admin.destroy();
process.exit(0);
