// `npm run bench`: throughput and p99 of Tessera's hot paths as a ratio to a bare-Koa baseline
// measured in the same run, plus memory. Servers run in child processes; this process is the load.
import { type ChildProcess, fork } from 'node:child_process';
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

async function load(request: () => Promise<Response>) {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + DURATION_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const res = await request();
        await res.arrayBuffer();
        if (!res.ok && res.status !== 304) errors++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / (DURATION_MS / 1000),
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    errors,
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

const base = await load(() => fetch(baseline.info.url));
const scenarios: [string, () => Promise<Response>][] = [
  ['GET /.well-known/jwks.json', () => fetch(`${url}/.well-known/jwks.json`)],
  [
    'GET /me (verify JWT + denylist)',
    () => fetch(`${url}/me`, { headers: { authorization: `Bearer ${token}` } }),
  ],
  [
    'POST /token client_credentials',
    () =>
      fetch(`${url}/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      }),
  ],
];
const rows = [];
for (const [name, req] of scenarios) {
  const r = await load(req);
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
