// `npm run bench`: throughput and p99 of Tessera's hot paths as a ratio to a bare-Koa baseline
// measured in the same run, plus memory. Servers run in child processes; this process is the load.
import { type ChildProcess, fork } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);

interface Started {
  child: ChildProcess;
  info: { url: string; clientId?: string; clientSecret?: string };
}

async function start(kind: string): Promise<Started> {
  const child = fork(fileURLToPath(new URL('./server.ts', import.meta.url)), [kind], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  const info = await new Promise<Started['info']>((resolve) =>
    child.once('message', (m) => resolve(m as Started['info'])),
  );
  return { child, info };
}

async function memory(child: ChildProcess): Promise<{ rss: number; heapUsed: number }> {
  child.send('memory');
  return new Promise((resolve) =>
    child.once('message', (m) => resolve(m as { rss: number; heapUsed: number })),
  );
}

interface Req {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** node:http with keep-alive: far cheaper per request than fetch, so the loader is not the bottleneck. */
function send(base: URL, agent: Agent, req: Req): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      {
        host: base.hostname,
        port: base.port,
        agent,
        method: req.method ?? 'GET',
        path: req.path,
        headers: req.headers,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

async function load(url: string, req: Req, durationMs = DURATION_MS) {
  const base = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  let errors = 0;
  const statuses = new Map<number, number>();
  const end = performance.now() + durationMs;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const status = await send(base, agent, req);
        if (status >= 400) {
          errors++;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / (durationMs / 1000),
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    errors: errors ? `${errors} (${[...statuses].map(([k, v]) => `${k}×${v}`).join(', ')})` : 0,
  };
}

const baseline = await start('baseline');
const tessera = await start('tessera');
const { url, clientId, clientSecret } = tessera.info;
const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
const tokenRes = await fetch(`${url}/token`, {
  method: 'POST',
  headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
  body: 'grant_type=client_credentials',
});
const { access_token: token } = (await tokenRes.json()) as { access_token: string };

const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic };
const scenarios: [string, Req][] = [
  ['GET /.well-known/jwks.json', { path: '/.well-known/jwks.json' }],
  ['GET /me (verify JWT + denylist)', { path: '/me', headers: { authorization: `Bearer ${token}` } }],
  [
    'POST /introspect (access token)',
    { method: 'POST', path: '/introspect', headers: form, body: `token=${token}` },
  ],
  [
    'POST /token client_credentials',
    { method: 'POST', path: '/token', headers: form, body: 'grant_type=client_credentials' },
  ],
];
// Warm both servers (JIT, connection pools) before anything is measured.
await load(baseline.info.url, { path: '/' }, 1000);
for (const [, req] of scenarios) await load(url, req, 500);
const base = await load(baseline.info.url, { path: '/' });
const rows = [];
for (const [name, req] of scenarios) {
  const r = await load(url, req);
  rows.push({
    scenario: name,
    'req/s': Math.round(r.rps),
    'throughput vs koa': (r.rps / base.rps).toFixed(2),
    'p99 ms': r.p99.toFixed(2),
    'p99 vs koa': (r.p99 / base.p99).toFixed(2),
    errors: r.errors,
  });
}
const mem = await memory(tessera.child);
const baseMem = await memory(baseline.child);
console.warn(
  `bare Koa baseline: ${Math.round(base.rps)} req/s, p99 ${base.p99.toFixed(2)} ms (concurrency ${CONCURRENCY}, ${DURATION_MS} ms each)`,
);
// biome-ignore lint/suspicious/noConsole: the benchmark report is a table on the terminal
console.table(rows);
console.warn(
  `memory after load: tessera rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB (heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB), ` +
    `baseline rss ${(baseMem.rss / 2 ** 20).toFixed(0)} MiB`,
);
baseline.child.kill();
tessera.child.kill();
