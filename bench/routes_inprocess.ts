// `node --import tsx bench/routes_inprocess.ts [requests] [rounds]`: CPU µs per request of the hot
// routes through the whole app, without the network. The services are the real ones (Postgres and
// Redis from DATABASE_URL / REDIS_URL, a database of their own created and dropped here); each
// request is a Node IncomingMessage/ServerResponse pair on a socket that discards what is written,
// driven through app.callback() one after the other. No kernel, loopback TCP or load generator
// shares the measurement, so a change of a few µs shows (the network scenarios of bench/run.ts
// swing by more than that on a loaded machine).
//   ROUTES=introspect,cc,jwks,password   the routes (default: all but password)
//   ROOTS=/tmp/before,.                   trees whose src/ is measured, interleaved round by round
//                                         in this one process (e.g. a `git worktree` of main)
//   ROUTES_INPROCESS_FORMAT=json          one JSON object on stderr: root → route → µs
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knex from 'knex';
import type * as AppModule from '../src/app.js';
import type * as ComposeModule from '../src/compose.js';
import type * as ConfigModule from '../src/config.js';
import { NullSocket, inProcessRequest as once, type RequestShape as Shape } from './lib/inprocess.js';

const HERE = path.join(fileURLToPath(new URL('.', import.meta.url)), '..');
const ROOTS = (process.env.ROOTS ?? process.env.ROOT ?? HERE).split(',').map((r) => path.resolve(r));
const base = process.env.DATABASE_URL;
if (!base || !(process.env.REDIS_URL || process.env.REDIS_CLUSTER_NODES)) {
  console.error('routes_inprocess: set DATABASE_URL and REDIS_URL (the production mode is measured)');
  process.exit(2);
}
const admin = knex({ client: 'pg', connection: base });
const PASSWORD = 'correct horse battery';
const basic = (c: { client_id: string; client_secret?: string }) =>
  `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64')}`;

type Handler = ReturnType<ReturnType<typeof AppModule.createApp>['callback']>;

interface Tree {
  root: string;
  handler: Handler;
  routes: Record<string, Shape>;
  close(): Promise<void>;
}

/** One tree's app on its own database and Redis prefix, with the clients and token it needs. */
async function openTree(root: string, index: number): Promise<Tree> {
  const load = <T>(file: string) => import(path.join(root, file)) as Promise<T>;
  const { createApp } = await load<typeof AppModule>('src/app.ts');
  const { buildServices } = await load<typeof ComposeModule>('src/compose.ts');
  const { loadConfig } = await load<typeof ConfigModule>('src/config.ts');
  const name = `bench_inproc_${process.pid}_${index}`;
  await admin.raw(`create database ${name}`);
  const url = new URL(base as string);
  url.pathname = `/${name}`;
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: url.toString(),
    REDIS_KEY_PREFIX: `${name}:`,
    // A key of its own for a database dropped at the end.
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    ISSUER: 'http://127.0.0.1:8080',
    // The per-client limit would refuse tens of thousands of requests a minute.
    RATE_LIMIT_CLIENT_PER_MINUTE: '100000000',
  });
  const services = await buildServices(config, { migrations: 'apply' });
  const handler = createApp(services).callback();
  const caller = await services.clientAccounts.create({
    name: 'bench-rs',
    grantTypes: ['client_credentials'],
    canIntrospect: true,
  });
  const app = await services.clientAccounts.create({ name: 'bench-app', grantTypes: ['password'] });
  await services.userAccounts.create('bench-user', PASSWORD, ['user']);
  const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(caller) };
  const cc: Shape = { method: 'POST', url: '/token', headers: form, body: 'grant_type=client_credentials' };
  const answer = new NullSocket(4096);
  await once(handler, cc, answer);
  const token = /"access_token":"([^"]+)"/.exec(answer.written)?.[1];
  if (!token) throw new Error(`${root}: no token: ${answer.written.slice(0, 300)}`);
  return {
    root,
    handler,
    routes: {
      introspect: { method: 'POST', url: '/introspect', headers: form, body: `token=${token}` },
      cc,
      jwks: { method: 'GET', url: '/.well-known/jwks.json', headers: {} },
      password: {
        method: 'POST',
        url: '/token',
        headers: { ...form, authorization: basic(app) },
        body: `grant_type=password&username=bench-user&password=${encodeURIComponent(PASSWORD)}`,
      },
    },
    async close() {
      await services.close();
      await admin.raw(`drop database if exists ${name} with (force)`);
    },
  };
}

/** `n` requests one after the other; what the last answer began with, to check it was a 200. */
async function drive(tree: Tree, shape: Shape, n: number): Promise<string> {
  const socket = new NullSocket();
  for (let i = 0; i < n; i++) await once(tree.handler, shape, socket);
  return socket.written;
}

const requests = Number(process.argv[2] ?? 5000);
const rounds = Number(process.argv[3] ?? 7);
const names = (process.env.ROUTES ?? 'introspect,cc,jwks').split(',');
const trees: Tree[] = [];
const samples = new Map<string, number[]>();
const key = (root: string, route: string) => `${root}\u0000${route}`;
try {
  for (const [i, root] of ROOTS.entries()) trees.push(await openTree(root, i));
  // Round 0 warms up and is not counted; each round runs every tree's route in turn.
  for (let round = 0; round <= rounds; round++) {
    for (const name of names) {
      for (const tree of trees) {
        const shape = tree.routes[name];
        if (!shape) throw new Error(`unknown route ${name}`);
        const before = process.cpuUsage();
        const status = await drive(tree, shape, requests);
        const used = process.cpuUsage(before);
        if (!status.startsWith('HTTP/1.1 200')) throw new Error(`${name} answered ${status}`);
        if (round === 0) continue;
        const list = samples.get(key(tree.root, name)) ?? [];
        list.push((used.user + used.system) / requests);
        samples.set(key(tree.root, name), list);
      }
    }
  }
} finally {
  for (const tree of trees) await tree.close();
  await admin.destroy();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;
const result = Object.fromEntries(
  ROOTS.map((root) => [
    root,
    Object.fromEntries(names.map((n) => [n, Number(median(samples.get(key(root, n)) ?? []).toFixed(2))])),
  ]),
);
// stderr: stdout carries the request log lines.
if (process.env.ROUTES_INPROCESS_FORMAT === 'json') console.error(JSON.stringify(result));
else {
  for (const root of ROOTS) {
    console.error(path.relative(process.cwd(), root) || '.');
    for (const [n, v] of Object.entries(result[root] ?? {}))
      console.error(`  ${n.padEnd(12)} ${v.toFixed(2)} µs/req`);
  }
}
