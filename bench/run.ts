// `npm run bench`: Tessera in production mode (Postgres + Redis) side by side with its peer
// (node-oidc-provider) and with floors (bare Koa, one Postgres rotation transaction, raw argon2id),
// interleaved round by round so machine noise hits every side alike. See bench/README.md.
import { type ChildProcess, execFileSync, fork, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FRONT_STEPS } from '../src/app.js';
import { es256ProofSigner } from './lib/dpop.js';
import { type LoadRequest, type Measurement, measureHttp, monotonicUs, percentile } from './lib/load.js';
import { sampleTree } from './lib/proc.js';
import { updateReadme } from './lib/readme.js';
import { build, startTessera, TESSERA_THREAD_POOL_SIZE, type TesseraInstance } from './lib/tessera.js';

const HELP = `npm run bench -- [options]

  --duration S      seconds per measurement (default 5)
  --rounds N        interleaved rounds; medians are reported (default 3)
  --connections N   concurrent connections / clients (default 50)
  --distinct N      distinct tokens in the "many tokens" introspection (default 2000)
  --only a,b        scenarios to run: cc, introspect, introspect-many, jwks, refresh, password, workers,
                    dpop-token, dpop-me, stack
  --before REF      also run Tessera built from git REF (e.g. main), interleaved, for before/after;
                    repeat it to compare several builds
  --cpu-prof        write V8 CPU profiles of the Tessera processes to bench/results/profiles/
  --no-build        use the existing dist/ instead of compiling first
  --readme          put the new table into README.md's performance section (bench/readme.ts)

Needs the machine's Postgres and Redis: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres;
the bench creates and drops its own databases there) and REDIS_URL (default redis://127.0.0.1:6379; keys
under a random prefix, deleted afterwards). Loopback only.`;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    distinct: { type: 'string', default: '2000' },
    only: { type: 'string' },
    before: { type: 'string', multiple: true },
    'cpu-prof': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    readme: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.warn(HELP);
  process.exit(0);
}
const positive = (name: string, raw: string | undefined) => {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bench: --${name} must be a positive integer`);
    process.exit(2);
  }
  return v;
};
const DURATION = positive('duration', flags.duration);
const ROUNDS = positive('rounds', flags.rounds);
const CONNECTIONS = positive('connections', flags.connections);
// Logins the server hashes at once (src/tokens/hashing_queue.ts, with the launcher's thread pool).
const HASHES_AT_ONCE = Math.max(
  1,
  Math.min(Number(TESSERA_THREAD_POOL_SIZE) - 2, os.availableParallelism() - 1),
);
// The password scenario offers 8 logins per hashing slot at most: enough to keep every slot fed,
// few enough that none waits out the queue's 2 s bound and is refused with 503 by design (50 at
// once on a 2-core machine that hashes ~30 a second would measure the refusal, not the hashing).
const PASSWORD_CONNECTIONS = Math.min(CONNECTIONS, 8 * HASHES_AT_ONCE);
const DISTINCT = positive('distinct', flags.distinct);
const SCENARIOS = [
  'cc',
  'introspect',
  'introspect-many',
  'jwks',
  'refresh',
  'password',
  'workers',
  'dpop-token',
  'dpop-me',
  'stack',
] as const;
type ScenarioId = (typeof SCENARIOS)[number];
const only = new Set((flags.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim()));
for (const s of only) {
  if (!SCENARIOS.includes(s as ScenarioId)) {
    console.error(`bench: unknown scenario "${s}" (one of ${SCENARIOS.join(', ')})`);
    process.exit(2);
  }
}
const wants = (s: ScenarioId) => only.has(s);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const POSTGRES_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const RESULTS = path.join(ROOT, 'bench/results');
/** The password scenario's floors (bench/targets/floors.ts): at Tessera's hashing concurrency, and unbounded. */
const RAW_ARGON2 = 'raw argon2id verify, cores − 1 at once';
const RAW_ARGON2_ALL = 'raw argon2id verify, every core';
const t0 = performance.now();
const log = (msg: string) => console.warn(`[bench +${Math.round((performance.now() - t0) / 1000)}s] ${msg}`);

// --- targets ---------------------------------------------------------------------------------------

interface Child {
  child: ChildProcess;
  info: Record<string, unknown>;
}

async function forkTarget(
  file: string,
  args: string[] = [],
  options: { root?: string; cpuProfileDir?: string | undefined; env?: NodeJS.ProcessEnv } = {},
): Promise<Child> {
  const { root = ROOT, cpuProfileDir, env = {} } = options;
  if (cpuProfileDir) mkdirSync(cpuProfileDir, { recursive: true });
  const child = fork(path.join(root, 'bench/targets', file), args, {
    execArgv: [
      '--import',
      'tsx',
      ...(cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : []),
    ],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return { child, info };
}

function floorRun(target: Child, durationS: number, connections = CONNECTIONS): Promise<Measurement> {
  const sampler = sampleTree(target.child.pid as number);
  const started = monotonicUs();
  target.child.send({ durationMs: durationS * 1000, connections });
  return new Promise((resolve) =>
    target.child.once('message', (m) => {
      const usage = sampler.stop();
      const { latencies, errors, elapsedMs } = m as {
        latencies: number[];
        errors: number;
        elapsedMs: number;
      };
      latencies.sort((a, b) => a - b);
      resolve({
        rps: latencies.length / (elapsedMs / 1000),
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        errors,
        unexpected: 0,
        cpuUs: latencies.length ? (usage.cpuSeconds * 1e6) / latencies.length : undefined,
        rssMiB: usage.peakRss / 2 ** 20,
        statuses: {},
        window: [started, monotonicUs()],
      });
    }),
  );
}

const form = 'application/x-www-form-urlencoded';
/** A form POST with client authentication; `rest` sets the body or a per-request `setupRequest`. */
const formPost = (path: string, auth: string, rest: Partial<LoadRequest>): LoadRequest => ({
  method: 'POST',
  path,
  headers: { authorization: auth, 'content-type': form },
  ...rest,
});
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function post(
  url: string,
  auth: string,
  body: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': form, ...extra },
    body,
  });
  const json = (await res.json()) as Record<string, string>;
  if (!res.ok) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Runs `fn` over `items` with `parallel` workers, keeping results in order. */
async function mapPool<T, R>(items: T[], parallel: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

// --- Tessera variants: what each instance needs for every scenario ---------------------------------

interface TesseraLoads {
  instance: TesseraInstance;
  cc: LoadRequest;
  introspectHot: LoadRequest;
  introspectMany: LoadRequest;
  jwks: LoadRequest;
  jwksConditional: LoadRequest;
  refresh: () => LoadRequest;
  password: () => LoadRequest;
  /** client_credentials with a fresh ES256 DPoP proof per request (RFC 9449 §5). */
  ccDpop: LoadRequest;
  /** GET /me with an unbound token as Bearer, and with a DPoP-bound one and a fresh proof (§7). */
  meBearer: LoadRequest;
  meDpop: LoadRequest;
}

async function prepareTessera(instance: TesseraInstance, loginsPerRound: number): Promise<TesseraLoads> {
  const { url, seeded } = instance;
  const ccAuth = basic(seeded.cc.id, seeded.cc.secret);
  const rsAuth = basic(seeded.rs.id, seeded.rs.secret);
  const appAuth = basic(seeded.app.id, seeded.app.secret);
  const mint = () =>
    post(`${url}/token`, ccAuth, 'grant_type=client_credentials').then((r) => r.access_token);
  const hot = await mint();
  const many = wants('introspect-many')
    ? await mapPool(Array.from({ length: DISTINCT }), 8, () => mint())
    : [];
  let manyIndex = 0;
  const jwksRes = await fetch(`${url}/.well-known/jwks.json`);
  const etag = jwksRes.headers.get('etag') ?? '';

  // Refresh: a pool of live refresh tokens. Each request takes one out and puts the child it gets
  // back, so every token is presented exactly once. Tokens in flight when a run stops are never
  // reused (that would be reuse detection), so the pool is sized for every run of the bench.
  const refreshPool: string[] = [];
  if (wants('refresh')) {
    const users = seeded.refreshUsers;
    const logins = Array.from({ length: loginsPerRound }, (_, i) => users[i % users.length] as string);
    const tokens = await mapPool(logins, 4, (u) =>
      post(
        `${url}/token`,
        appAuth,
        `grant_type=password&username=${u}&password=${encodeURIComponent(seeded.password)}&scope=read`,
      ).then((r) => r.refresh_token as string),
    );
    refreshPool.push(...tokens);
  }
  const passwordPool: string[] = [];
  // DPoP: one client key, as a real client has; proofs name the URIs as the ISSUER spells them.
  const signer = es256ProofSigner();
  const withProof = (req: LoadRequest, htm: string, htu: string, token?: string): LoadRequest => ({
    ...req,
    headers: { ...req.headers, dpop: signer.proof(htm, htu, token) },
  });
  const bound = wants('dpop-me')
    ? await post(`${url}/token`, ccAuth, 'grant_type=client_credentials', {
        dpop: signer.proof('POST', `${url}/token`),
      }).then((r) => {
        if (r.token_type !== 'DPoP')
          throw new Error(`bench: expected a DPoP-bound token, got ${r.token_type}`);
        return r.access_token as string;
      })
    : '';
  const tokenReq = (body: string, auth: string) => formPost('/token', auth, { body });
  return {
    instance,
    cc: tokenReq('grant_type=client_credentials', ccAuth),
    introspectHot: formPost('/introspect', rsAuth, { body: `token=${hot}` }),
    introspectMany: formPost('/introspect', rsAuth, {
      setupRequest: (req) => ({ ...req, body: `token=${many[manyIndex++ % many.length]}` }),
    }),
    jwks: { method: 'GET', path: '/.well-known/jwks.json' },
    jwksConditional: { method: 'GET', path: '/.well-known/jwks.json', headers: { 'if-none-match': etag } },
    refresh: () => ({
      ...tokenReq('', appAuth),
      setupRequest: (req, context) => {
        const token = refreshPool.pop() ?? 'pool-exhausted';
        (context as { token?: string }).token = token;
        return { ...req, body: `grant_type=refresh_token&refresh_token=${token}` };
      },
      onResponse: (status, body) => {
        if (status === 200) refreshPool.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
      },
    }),
    ccDpop: {
      ...tokenReq('grant_type=client_credentials', ccAuth),
      setupRequest: (req) => withProof(req, 'POST', `${url}/token`),
    },
    meBearer: { method: 'GET', path: '/me', headers: { authorization: `Bearer ${hot}` } },
    meDpop: {
      method: 'GET',
      path: '/me',
      headers: { authorization: `DPoP ${bound}` },
      setupRequest: (req) => withProof(req, 'GET', `${url}/me`, bound),
    },
    password: () => {
      // One login per user at a time: the pool hands each request a user nobody else is logging in as.
      passwordPool.length = 0;
      passwordPool.push(...seeded.passwordUsers);
      return {
        ...tokenReq('', appAuth),
        setupRequest: (req, context) => {
          const user = passwordPool.pop() ?? seeded.passwordUsers[0];
          (context as { user?: string }).user = user;
          return {
            ...req,
            body: `grant_type=password&username=${user}&password=${encodeURIComponent(seeded.password)}&scope=read`,
          };
        },
        onResponse: (_status, _body, context) => {
          const user = (context as { user?: string }).user;
          if (user) passwordPool.push(user);
        },
      };
    },
  };
}

// --- scenarios ---------------------------------------------------------------------------------------

interface Variant {
  label: string;
  run(durationS: number): Promise<Measurement>;
}

interface Comparison {
  /** Variant labels: ratio = a's req/s ÷ b's req/s; p99 ratio = a's p99 ÷ b's p99. */
  a: string;
  b: string;
  /** The ratio the project aims for (README, Performance); none: the ratio is the result (a cost). */
  target?: number;
}

interface Scenario {
  id: ScenarioId;
  title: string;
  variants: Variant[];
  comparisons: Comparison[];
}

async function main(): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  const profileDir = flags['cpu-prof'] ? path.join(RESULTS, 'profiles', stamp) : undefined;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  };
  process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  try {
    if (!flags['no-build']) {
      log('compiling Tessera (npm run build)');
      await build(ROOT);
    }
    const beforeRoots: { ref: string; root: string }[] = [];
    for (const ref of flags.before ?? []) {
      const root = mkdtempSync(path.join(os.tmpdir(), 'tessera-before-'));
      cleanups.push(() => rmSync(root, { recursive: true, force: true }));
      log(`building Tessera at ${ref} in ${root}`);
      // A whole tree is more than spawnSync's default 1 MiB buffer (ENOBUFS).
      const tar = execFileSync('git', ['-C', ROOT, 'archive', ref], { maxBuffer: 1 << 30 });
      execFileSync('tar', ['-x', '-C', root], { input: tar });
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
      await build(root);
      beforeRoots.push({ ref, root });
    }

    // Enough refresh sessions for the warm-up and every round (each run strands one per connection).
    const refreshSessions = CONNECTIONS * (ROUNDS + 2);
    const needsUsers = wants('refresh') || wants('password');
    const tesseraUsers = needsUsers ? CONNECTIONS : 0;
    const start = async (label: string, root: string, workers: number, users: number) => {
      log(`starting ${label} (WORKERS=${workers}) and seeding it through its CLI`);
      const instance = await startTessera(
        {
          label,
          root,
          postgresUrl: POSTGRES_URL,
          redisUrl: REDIS_URL,
          workers,
          cpuProfileDir: profileDir && path.join(profileDir, label.replace(/[^\w-]/g, '_')),
        },
        {
          passwordUsers: wants('password') ? users : 0,
          refreshSessions: wants('refresh') ? refreshSessions : 0,
        },
      );
      cleanups.push(() => instance.stop());
      return instance;
    };
    const tessera = await start('tessera', ROOT, 1, tesseraUsers);
    const befores: TesseraInstance[] = [];
    for (const b of beforeRoots) befores.push(await start(`tessera@${b.ref}`, b.root, 1, tesseraUsers));
    const tesseraW2 = wants('workers') ? await start('tessera WORKERS=2', ROOT, 2, 0) : undefined;

    log('starting Koa baseline, node-oidc-provider and floors');
    const koa = await forkTarget('koa.ts');
    cleanups.push(() => koa.child.kill());
    const peer = await forkTarget('peer.ts');
    cleanups.push(() => peer.child.kill());
    // The front stack with an empty route: whole, without each step in turn, and bare Koa with the
    // same route (targets/stack.ts); with --before, the same stacks of each earlier build.
    const stacks = wants('stack')
      ? await startStacks(
          [{ ref: '', root: ROOT }, ...beforeRoots],
          (label) => profileDir && path.join(profileDir, label.replace(/[^\w-]/g, '_')),
        )
      : [];
    for (const s of stacks) cleanups.push(() => s.target.child.kill());
    const pgFloor = wants('refresh') ? await forkTarget('floors.ts', ['pg', tessera.databaseUrl]) : undefined;
    if (pgFloor) cleanups.push(() => pgFloor.child.kill());
    // The argon2id floors get the thread pool Tessera runs with (bench/lib/tessera.ts, as the
    // launcher sizes it), so the bounded one hashes exactly as many at once as Tessera's queue.
    const argonEnv = { UV_THREADPOOL_SIZE: TESSERA_THREAD_POOL_SIZE };
    const argonFloor = wants('password')
      ? await forkTarget('floors.ts', ['argon2'], { env: argonEnv })
      : undefined;
    if (argonFloor) cleanups.push(() => argonFloor.child.kill());
    const argonAllFloor = wants('password')
      ? await forkTarget('floors.ts', ['argon2-all'], { env: argonEnv })
      : undefined;
    if (argonAllFloor) cleanups.push(() => argonAllFloor.child.kill());

    log('minting tokens and sessions');
    const loads = [await prepareTessera(tessera, refreshSessions)];
    for (const b of befores) loads.push(await prepareTessera(b, refreshSessions));
    const peerUrl = peer.info.url as string;
    const peerSecret = peer.info.secret as string;
    const peerJwtAuth = basic('bench-jwt', peerSecret);
    const peerOpaqueAuth = basic('bench-opaque', peerSecret);
    const peerMint = () =>
      post(`${peerUrl}/token`, peerOpaqueAuth, 'grant_type=client_credentials&scope=read').then(
        (r) => r.access_token as string,
      );
    const peerHot = await peerMint();
    const peerMany = wants('introspect-many')
      ? await mapPool(Array.from({ length: DISTINCT }), 8, () => peerMint())
      : [];
    let peerManyIndex = 0;
    const koaUrl = koa.info.url as string;

    const http =
      (
        url: string,
        pid: number | undefined,
        request: LoadRequest | (() => LoadRequest),
        expect?: number,
        connections = CONNECTIONS,
      ) =>
      (durationS: number) =>
        measureHttp(
          {
            url,
            pid,
            request: typeof request === 'function' ? request() : request,
            ...(expect ? { expect } : {}),
          },
          durationS,
          connections,
        );
    const tesseraVariants = (
      pick: (l: TesseraLoads) => LoadRequest | (() => LoadRequest),
      expect?: number,
      connections = CONNECTIONS,
    ) =>
      loads.map((l) => ({
        label: l.instance.label,
        run: http(l.instance.url, l.instance.pid, pick(l), expect, connections),
      }));
    const vsBefore = (b: string, target: number): Comparison[] =>
      loads.map((l) => ({ a: l.instance.label, b, target }));
    const koaGet: Variant = {
      label: 'Koa GET (small JSON)',
      run: http(koaUrl, koa.child.pid, { path: '/' }),
    };
    const koaPost: Variant = {
      label: 'Koa POST (form parse)',
      run: http(koaUrl, koa.child.pid, {
        method: 'POST',
        path: '/',
        headers: { 'content-type': form },
        body: `token=${peerHot}`,
      }),
    };

    const all: Scenario[] = [
      {
        id: 'cc' as const,
        title: 'client_credentials (ES256 JWT)',
        variants: [
          ...tesseraVariants((l) => l.cc),
          {
            label: 'oidc-provider',
            run: http(
              peerUrl,
              peer.child.pid,
              formPost('/token', peerJwtAuth, { body: 'grant_type=client_credentials&scope=read' }),
            ),
          },
        ],
        comparisons: vsBefore('oidc-provider', 2),
      },
      {
        id: 'introspect' as const,
        title: 'introspection, one hot token',
        variants: [
          ...tesseraVariants((l) => l.introspectHot),
          {
            label: 'oidc-provider (opaque)',
            run: http(
              peerUrl,
              peer.child.pid,
              formPost('/token/introspection', peerOpaqueAuth, { body: `token=${peerHot}` }),
            ),
          },
          koaPost,
        ],
        comparisons: [...vsBefore('oidc-provider (opaque)', 2), ...vsBefore(koaPost.label, 0.5)],
      },
      {
        id: 'introspect-many' as const,
        title: `introspection, ${DISTINCT} distinct tokens`,
        variants: [
          ...tesseraVariants((l) => l.introspectMany),
          {
            label: 'oidc-provider (opaque)',
            run: http(peerUrl, peer.child.pid, {
              method: 'POST',
              path: '/token/introspection',
              headers: { authorization: peerOpaqueAuth, 'content-type': form },
              setupRequest: (req) => ({
                ...req,
                body: `token=${peerMany[peerManyIndex++ % peerMany.length]}`,
              }),
            }),
          },
        ],
        comparisons: vsBefore('oidc-provider (opaque)', 1),
      },
      {
        id: 'jwks' as const,
        title: 'JWKS',
        variants: [
          ...tesseraVariants((l) => l.jwks),
          ...tesseraVariants((l) => l.jwksConditional, 304).map((v) => ({
            ...v,
            label: `${v.label} If-None-Match`,
          })),
          { label: 'oidc-provider', run: http(peerUrl, peer.child.pid, { path: '/jwks' }) },
          koaGet,
        ],
        comparisons: [...vsBefore('oidc-provider', 2), ...vsBefore(koaGet.label, 0.9)],
      },
      {
        id: 'refresh' as const,
        title: 'refresh_token grant (each token used once)',
        variants: [
          ...tesseraVariants((l) => l.refresh),
          ...(pgFloor ? [{ label: 'Postgres rotation txn', run: (d: number) => floorRun(pgFloor, d) }] : []),
        ],
        comparisons: vsBefore('Postgres rotation txn', 0.5),
      },
      {
        id: 'password' as const,
        title: 'password grant (argon2id)',
        variants: [
          ...tesseraVariants((l) => l.password, undefined, PASSWORD_CONNECTIONS),
          // Tessera hashes cores − 1 passwords at once and keeps a core for its event loop
          // (src/tokens/hashing_queue.ts): the floor does the same, so the ratio is Tessera's own
          // cost per login. The unbounded floor shows what that reserved core costs in logins/s.
          ...(argonFloor
            ? [{ label: RAW_ARGON2, run: (d: number) => floorRun(argonFloor, d, PASSWORD_CONNECTIONS) }]
            : []),
          ...(argonAllFloor
            ? [
                {
                  label: RAW_ARGON2_ALL,
                  run: (d: number) => floorRun(argonAllFloor, d, PASSWORD_CONNECTIONS),
                },
              ]
            : []),
        ],
        comparisons: [
          ...vsBefore(RAW_ARGON2, 0.9),
          ...loads.map((l) => ({ a: l.instance.label, b: RAW_ARGON2_ALL })),
        ],
      },
      {
        id: 'dpop-token' as const,
        title: 'client_credentials with and without DPoP (ES256 proof per request)',
        variants: [
          ...tesseraVariants((l) => l.cc).map((v) => ({ ...v, label: `${v.label} Bearer` })),
          ...tesseraVariants((l) => l.ccDpop).map((v) => ({ ...v, label: `${v.label} DPoP` })),
        ],
        comparisons: loads.map((l) => ({ a: `${l.instance.label} DPoP`, b: `${l.instance.label} Bearer` })),
      },
      {
        id: 'dpop-me' as const,
        title: 'GET /me, DPoP-bound token + proof vs Bearer',
        variants: [
          ...tesseraVariants((l) => l.meBearer).map((v) => ({ ...v, label: `${v.label} Bearer` })),
          ...tesseraVariants((l) => l.meDpop).map((v) => ({ ...v, label: `${v.label} DPoP` })),
        ],
        comparisons: loads.map((l) => ({ a: `${l.instance.label} DPoP`, b: `${l.instance.label} Bearer` })),
      },
      ...(tesseraW2
        ? [
            {
              id: 'workers' as const,
              title: 'client_credentials, WORKERS=2 vs 1',
              variants: [
                { label: 'tessera WORKERS=1', run: http(tessera.url, tessera.pid, loads[0]!.cc) },
                {
                  label: tesseraW2.label,
                  run: http(
                    tesseraW2.url,
                    tesseraW2.pid,
                    tokenRequestFor(tesseraW2.seeded.cc.id, tesseraW2.seeded.cc.secret),
                  ),
                },
              ],
              comparisons: [{ a: tesseraW2.label, b: 'tessera WORKERS=1', target: 1.3 }],
            },
          ]
        : []),
      ...(wants('stack')
        ? [
            {
              id: 'stack' as const,
              title: 'front stack, empty route',
              variants: stacks.map(({ label, target }) => ({
                label,
                run: http(target.info.url as string, target.child.pid, { path: '/empty' }),
              })),
              comparisons: [],
            },
          ]
        : []),
    ];
    const scenarios = all.filter((s) => wants(s.id));

    log(`warming up every target (${scenarios.reduce((n, s) => n + s.variants.length, 0)} variants)`);
    for (const s of scenarios) for (const v of s.variants) await v.run(1);

    const results = new Map<string, Measurement[]>();
    const key = (s: Scenario, v: { label: string }) => `${s.id}\u0000${v.label}`;
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of scenarios) {
        // Alternate the order every round so drift (other load, thermal, caches) hits both sides.
        const order = round % 2 === 0 ? s.variants : [...s.variants].reverse();
        for (const v of order) {
          const m = await v.run(DURATION);
          const k = key(s, v);
          results.set(k, [...(results.get(k) ?? []), m]);
          log(
            `round ${round + 1}/${ROUNDS} ${s.id} · ${v.label}: ${Math.round(m.rps)} req/s, p99 ${m.p99.toFixed(1)} ms` +
              (m.errors || m.unexpected
                ? ` (errors ${m.errors}, unexpected ${JSON.stringify(m.statuses)})`
                : ''),
          );
        }
      }
    }
    const report = summarise(scenarios, results, key);
    const machine = describeMachine();
    const stackInProcess = wants('stack') ? measureStackInProcess() : undefined;
    const hotRoutes = HOT_ROUTES.filter((r) => wants(r));
    const routesInProcess = hotRoutes.length > 0 ? measureRoutesInProcess(hotRoutes) : undefined;
    const out = {
      when: new Date().toISOString(),
      machine,
      settings: settings(),
      ...report,
      ...(stackInProcess ? { stackInProcess } : {}),
      ...(routesInProcess ? { routesInProcess } : {}),
    };
    const file = path.join(RESULTS, `bench-${stamp}.json`);
    const markdown = toMarkdown(out);
    // Every run is kept by its time; `latest.*` is the one the README's table comes from.
    for (const name of [`bench-${stamp}`, 'latest']) {
      writeFileSync(path.join(RESULTS, `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
      writeFileSync(path.join(RESULTS, `${name}.md`), markdown);
    }
    process.stdout.write(`${markdown}\n`);
    if (flags.readme) updateReadme(ROOT, markdown);
    log(`results: ${path.relative(process.cwd(), file)}`);
    if (profileDir)
      log(`CPU profiles (written when the servers stop): ${path.relative(process.cwd(), profileDir)}`);
  } finally {
    await cleanup();
  }
}

function tokenRequestFor(id: string, secret: string): LoadRequest {
  return formPost('/token', basic(id, secret), { body: 'grant_type=client_credentials' });
}

// --- report ------------------------------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

interface Row {
  scenario: string;
  variant: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  unexpected: number;
  cpuUsPerRequest: number | null;
  peakRssMiB: number | null;
  valid: boolean;
  rounds: number[];
  /** Scenario id and the monotonic µs windows of its runs, for `bench/profile.ts --results`. */
  id: string;
  windows: [number, number][];
}

interface RatioRow {
  scenario: string;
  a: string;
  b: string;
  ratio: number;
  p99Ratio: number;
  target: number | null;
  met: boolean | null;
  valid: boolean;
}

function summarise(
  scenarios: Scenario[],
  results: Map<string, Measurement[]>,
  key: (s: Scenario, v: { label: string }) => string,
): { rows: Row[]; ratios: RatioRow[] } {
  const rows: Row[] = [];
  const ratios: RatioRow[] = [];
  for (const s of scenarios) {
    const byLabel = new Map<string, Row>();
    for (const v of s.variants) {
      const ms = results.get(key(s, v)) ?? [];
      const cpu = ms.map((m) => m.cpuUs).filter((x): x is number => x !== undefined);
      const rss = ms.map((m) => m.rssMiB).filter((x): x is number => x !== undefined);
      const errors = ms.reduce((a, m) => a + m.errors, 0);
      const unexpected = ms.reduce((a, m) => a + m.unexpected, 0);
      const row: Row = {
        scenario: s.title,
        variant: v.label,
        rps: median(ms.map((m) => m.rps)),
        p50: median(ms.map((m) => m.p50)),
        p99: median(ms.map((m) => m.p99)),
        errors,
        unexpected,
        cpuUsPerRequest: cpu.length ? median(cpu) : null,
        peakRssMiB: rss.length ? Math.max(...rss) : null,
        valid: errors === 0 && unexpected === 0,
        rounds: ms.map((m) => Math.round(m.rps)),
        id: s.id,
        windows: ms.map((m) => m.window),
      };
      rows.push(row);
      byLabel.set(v.label, row);
    }
    for (const c of s.comparisons) {
      const a = byLabel.get(c.a);
      const b = byLabel.get(c.b);
      if (!a || !b) continue;
      const ratio = a.rps / b.rps;
      ratios.push({
        scenario: s.title,
        a: c.a,
        b: c.b,
        ratio,
        p99Ratio: a.p99 / b.p99,
        target: c.target ?? null,
        met: c.target === undefined ? null : ratio >= c.target,
        valid: a.valid && b.valid,
      });
    }
  }
  return { rows, ratios };
}

function describeMachine() {
  const cpus = os.cpus();
  return {
    cpu: `${cpus.length} × ${cpus[0]?.model ?? 'unknown'}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

function settings() {
  return {
    durationS: DURATION,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    passwordConnections: PASSWORD_CONNECTIONS,
    distinctTokens: DISTINCT,
    before: flags.before ?? [],
  };
}

function toMarkdown(out: {
  when: string;
  machine: ReturnType<typeof describeMachine>;
  settings: ReturnType<typeof settings>;
  rows: Row[];
  ratios: RatioRow[];
  stackInProcess?: Record<string, number>;
  routesInProcess?: Record<string, number>;
}): string {
  const n = (x: number | null, digits = 0) =>
    x === null
      ? '–'
      : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const lines = [
    `Run ${out.when} · ${out.machine.cpu} · ${out.machine.memoryGiB} GiB · Node ${out.machine.node} · ` +
      `load average at the end ${out.machine.loadAverage.join(' ')}`,
    `${out.settings.connections} connections (password grant: ${out.settings.passwordConnections}), ` +
      `${out.settings.rounds} interleaved rounds of ${out.settings.durationS} s ` +
      '(medians; the load generator shares the cores)',
    '',
    '| scenario | variant | req/s | p50 ms | p99 ms | errors | unexpected status | CPU µs/req | peak RSS MiB | |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...out.rows.map(
      (r) =>
        `| ${r.scenario} | ${r.variant} | ${n(r.rps)} | ${n(r.p50, 1)} | ${n(r.p99, 1)} | ${r.errors} | ${r.unexpected} | ` +
        `${n(r.cpuUsPerRequest)} | ${n(r.peakRssMiB)} | ${r.valid ? '' : 'INVALID'} |`,
    ),
    '',
    '| scenario | ratio | req/s ratio | target | p99 ratio | |',
    '|---|---|---:|---:|---:|---|',
    ...out.ratios.map(
      (r) =>
        `| ${r.scenario} | ${r.a} ÷ ${r.b} | ${r.ratio.toFixed(2)}× | ${r.target === null ? '–' : `≥ ${r.target}×`} | ` +
        `${r.p99Ratio.toFixed(2)}× | ${r.valid ? (r.met === null ? '' : r.met ? 'met' : 'not met') : 'INVALID'} |`,
    ),
    ...stackBudget(out.rows, out.stackInProcess),
    ...routeSplit(out.rows, out.routesInProcess),
  ];
  return `${lines.join('\n')}\n`;
}

/** The variant labels of the `stack` scenario; an earlier build's carry its ref (`main: whole stack`). */
const STACK_WHOLE = 'whole stack';
const STACK_BARE = 'bare Koa, same route';
const stackLabel = (ref: string, without: string) =>
  `${ref ? `${ref}: ` : ''}${without ? `without ${without}` : STACK_WHOLE}`;

/**
 * The `stack` targets: bare Koa with the empty route once, then for this build and every --before
 * build the whole stack and the stack without each step. An earlier build that lacks a step (its
 * targets/stack.ts refuses the name) just has no row for it.
 */
async function startStacks(
  builds: { ref: string; root: string }[],
  profileDirFor: (label: string) => string | undefined,
): Promise<{ label: string; target: Child }[]> {
  const steps = FRONT_STEPS.filter((step) => step !== 'wellKnown');
  const out = [
    {
      label: STACK_BARE,
      target: await forkTarget('stack.ts', ['bare'], { cpuProfileDir: profileDirFor('stack bare') }),
    },
  ];
  for (const { ref, root } of builds) {
    for (const without of ['', ...steps]) {
      const label = stackLabel(ref, without);
      try {
        const cpuProfileDir = profileDirFor(`stack ${label}`);
        out.push({
          label,
          target: await forkTarget('stack.ts', without ? [without] : [], { root, cpuProfileDir }),
        });
      } catch (err) {
        log(`stack: no variant "${label}" (${err instanceof Error ? err.message : String(err)})`);
      }
    }
  }
  return out;
}

/**
 * The per-request budget of the front stack (README, Performance): its own cost, the whole stack's
 * CPU µs minus bare Koa's with the same empty route in the same run, is at most 15 µs, split into a
 * share per step. A step costs the whole stack's CPU µs minus the stack's without it.
 */
const STACK_BUDGET_US = 15;
const STACK_SHARES_US: Record<string, number> = {
  clientIp: 1,
  requestLog: 6,
  metrics: 3,
  errorHandler: 1.5,
  securityHeaders: 2,
  strictPath: 1.5,
};

/**
 * The same variants without a network (bench/stack_inprocess.ts), after the load is gone: the
 * loopback TCP, the kernel and the load generator's share that blur the `stack` rows by several µs
 * are absent, so a step's few µs can be read. CPU µs per request by variant (`` = whole stack).
 */
/**
 * Runs an in-process measurement script (its JSON is the last line of its stderr; stdout carries
 * request log lines); undefined, and a line in the log, when it fails.
 */
function runInProcess(label: string, script: string, env: Record<string, string>): unknown {
  log(`${label}: the same requests in process, without a network (${script})`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, script)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  try {
    return JSON.parse(run.stderr.trim().split('\n').at(-1) ?? '');
  } catch {
    log(`${label}: the in-process measurement failed (exit ${run.status}): ${run.stderr.slice(-300)}`);
    return undefined;
  }
}

function measureStackInProcess(): Record<string, number> | undefined {
  return runInProcess('stack', 'bench/stack_inprocess.ts', { STACK_INPROCESS_FORMAT: 'json' }) as
    | Record<string, number>
    | undefined;
}

/** The scenarios whose route bench/routes_inprocess.ts also drives without a network. */
const HOT_ROUTES = ['introspect', 'cc', 'jwks'] as const;

function measureRoutesInProcess(routes: readonly string[]): Record<string, number> | undefined {
  const byRoot = runInProcess('hot routes', 'bench/routes_inprocess.ts', {
    ROUTES: routes.join(','),
    ROUTES_INPROCESS_FORMAT: 'json',
  }) as Record<string, Record<string, number>> | undefined;
  return byRoot && Object.values(byRoot)[0];
}

/**
 * Where a hot route's CPU goes: the app's own work (measured in process) and the rest, which is
 * the kernel's loopback TCP, Node's HTTP parser and socket handling (the difference).
 */
function routeSplit(rows: Row[], inProcess: Record<string, number> | undefined): string[] {
  if (!inProcess) return [];
  const lines = HOT_ROUTES.flatMap((id) => {
    const local = inProcess[id];
    const network = rows.find((r) => r.id === id && r.variant === 'tessera')?.cpuUsPerRequest ?? null;
    if (local === undefined || network === null) return [];
    const title = rows.find((r) => r.id === id)?.scenario ?? id;
    return [`| ${title} | ${network.toFixed(0)} | ${local.toFixed(1)} | ${(network - local).toFixed(0)} |`];
  });
  if (lines.length === 0) return [];
  return [
    '',
    'Hot routes, CPU µs per request: over the network in this run, and the same request driven through ' +
      'app.callback() in process with real Postgres and Redis (bench/routes_inprocess.ts); the difference ' +
      'is the kernel, Node HTTP parsing and the socket:',
    '',
    '| scenario | over the network | in process (the app) | network, kernel, HTTP parsing |',
    '|---|---:|---:|---:|',
    ...lines,
  ];
}

function stackBudget(rows: Row[], inProcess: Record<string, number> | undefined): string[] {
  const stack = rows.filter((r) => r.id === 'stack');
  const cpu = (label: string) => stack.find((r) => r.variant === label)?.cpuUsPerRequest ?? null;
  const bare = cpu(STACK_BARE);
  const refs = ['', ...(flags.before ?? [])].filter((ref) => cpu(stackLabel(ref, '')) !== null);
  if (bare === null || refs.length === 0) return [];
  const over = (cost: number | null, share: number) => (cost !== null && cost > share ? '**over**' : '');
  const cell = (x: number | null) => (x === null ? '–' : x.toFixed(1));
  const costs = (without: string) =>
    refs.map((ref) => {
      const whole = cpu(stackLabel(ref, '')) as number;
      const rest = without === 'bare' ? bare : cpu(stackLabel(ref, without));
      return rest === null ? null : whole - rest;
    });
  // This build only; `without` is a step's name, 'bare' or '' (the whole stack itself).
  const local = (without: string): number | null => {
    const whole = inProcess?.[''];
    const rest = inProcess?.[without];
    if (whole === undefined || rest === undefined) return null;
    return without === '' ? whole : whole - rest;
  };
  const columns = inProcess ? ' in process | |' : '';
  const row = (name: string, values: (number | null)[], share: number | string, mark: string, inproc = '') =>
    `| ${name} | ${values.map(cell).join(' | ')} | ${share} | ${mark} |${inProcess ? ` ${inproc}` : ''}`;
  const withLocal = (value: number | null, share: number | '') =>
    `${cell(value)} | ${share === '' ? '' : over(value, share)} |`;
  const steps = FRONT_STEPS.filter((step) => step in STACK_SHARES_US).map((step) => {
    const share = STACK_SHARES_US[step] as number;
    const values = costs(step);
    return row(step, values, share, over(values[0] ?? null, share), withLocal(local(step), share));
  });
  const own = costs('bare');
  return [
    '',
    'Front stack budget (CPU µs per request, empty route; own cost = whole stack − bare Koa with the same ' +
      'route, a step = whole stack − stack without it' +
      (inProcess
        ? '; "in process": the same variants driven through app.callback() without a network, bench/stack_inprocess.ts'
        : '') +
      '):',
    '',
    `| step | ${refs.map((ref) => (ref ? `${ref}` : 'this build')).join(' | ')} | share | |${columns}`,
    `|---|${refs.map(() => '---:').join('|')}|---:|---|${inProcess ? '---:|---|' : ''}`,
    ...steps,
    row(
      "**stack's own cost**",
      own,
      STACK_BUDGET_US,
      over(own[0] ?? null, STACK_BUDGET_US),
      withLocal(local('bare'), STACK_BUDGET_US),
    ),
    row(
      'whole stack (Koa, router, Node HTTP included)',
      refs.map((ref) => cpu(stackLabel(ref, ''))),
      '',
      '',
      withLocal(local(''), ''),
    ),
    row(
      'bare Koa, same route',
      refs.map(() => bare),
      '',
      '',
      withLocal(inProcess?.bare ?? null, ''),
    ),
  ];
}

await main();
