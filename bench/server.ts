// A benchmark target in its own process: `baseline` (bare Koa returning a small JSON body) or
// `tessera` (the real app on in-memory PGlite + in-process state). Prints its URL and, on request,
// its memory.
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { createApp } from '../src/app.js';
import { buildServices } from '../src/compose.js';
import { loadConfig } from '../src/config.js';
import { connectDatabase } from '../src/db/connect.js';
import { createLogger } from '../src/observability.js';

const kind = process.argv[2];
let app: Koa;
let setup: Record<string, string> = {};
if (kind === 'baseline') {
  app = new Koa();
  app.use((ctx) => {
    ctx.body = { ok: true };
  });
} else {
  const config = loadConfig({
    ISSUER: 'http://bench.test',
    KEY_ENCRYPTION_KEY: 'Hn5tW2ae8Rk0Ypz3GvLq6XmC1sJdU9fBoEi4NcTyKwQ',
    LOG_LEVEL: 'silent',
    // The per-client budget (default 1200/min) would turn most of a benchmark into 429s.
    RATE_LIMIT_CLIENT_PER_MINUTE: '100000000',
  });
  const services = await buildServices(config, {
    log: createLogger('silent'),
    db: connectDatabase({ url: undefined, dataDir: null }),
    migrations: 'apply',
  });
  const client = await services.clientAccounts.create({
    name: 'bench',
    grantTypes: ['client_credentials'],
    canIntrospect: true,
  });
  app = createApp(services);
  setup = { clientId: client.client_id, clientSecret: client.client_secret as string };
}
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ url: `http://127.0.0.1:${port}`, ...setup });
});
process.on('message', (m) => {
  if (m === 'memory')
    process.send?.({ rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed });
});
