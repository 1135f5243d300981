// `node --import tsx bench/profile.ts [--results R.json --scenario ID --variant LABEL] FILE.cpuprofile…`:
// where a V8 CPU profile (from `npm run bench -- --cpu-prof`) spent its time, as self time by module
// and by function. With --results, only the samples taken while that scenario's variant was under
// load count (profiles and the bench share the monotonic clock), so setup and other scenarios
// do not blur the picture. With --results it also groups self time by step of the request path
// (koa+router, request log, metrics, client IP, strict input, body reader, crypto, GC, …) as CPU µs
// per request: the samples' busy time over the requests the variant completed in its windows.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Groups a script URL: a package under node_modules, a file of ours, or Node's internals. */
function moduleOf(url: string): string {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:');
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  // The compiled server (dist/src/…) or the source run through tsx (bench/targets/stack.ts).
  const src = url.search(/\/(dist\/)?src\//);
  if (src >= 0) return `tessera ${url.slice(src + 1).replace(/^dist\//, '')}`;
  return path.basename(url);
}

/** The step of the request path a module belongs to (bench/README.md, "Attribution"). */
const STEPS: [RegExp, string][] = [
  [
    /^(koa|koa-compose|delegates|@koa\/router|path-to-regexp|koa-convert|http-errors|statuses|on-finished|vary|accepts|content-type|type-is|cache-content-type|mime-types|parseurl|encodeurl|escape-html|only|fresh|destroy|cookies)$/,
    'koa+router',
  ],
  [
    /^(pino|sonic-boom|@pinojs\/.*|fast-redact|quick-format-unescaped|on-exit-leak-free|thread-stream|atomic-sleep)$|http\/request_log/,
    'request log',
  ],
  [/^prom-client$|^tdigest$|^bintrees$|src\/observability|http\/request_metrics/, 'metrics'],
  [/^(proxy-addr|forwarded|ipaddr\.js)$|http\/client_ip/, 'client IP'],
  [/http\/strict_input/, 'strict input'],
  [/^(raw-body|iconv-lite|co-body|koa-bodyparser)$|http\/input/, 'body reader'],
  [/^jose$|^node:crypto|tokens\/compact_jws|dpop\//, 'crypto'],
  [/^\(garbage collector\)$/, 'GC'],
  [
    /^(ioredis|pg|pg-protocol|pg-pool|knex|tarn|rate-limiter-flexible|redis-parser|@electric-sql\/.*)$/,
    'database and Redis clients',
  ],
  [
    /^node:(_http|http|net|stream|streams|timers|events|buffer|url|internal\/(http|net|stream|streams|timers|url))/,
    'Node HTTP, streams, timers',
  ],
  [/^tessera /, 'tessera (routes and stores)'],
  [/^\(program\)$|^\(native \/ V8\)$/, 'native / V8'],
];
const stepOf = (mod: string) => STEPS.find(([re]) => re.test(mod))?.[1] ?? 'other';

const { values: opts, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    results: { type: 'string' },
    scenario: { type: 'string' },
    variant: { type: 'string' },
    top: { type: 'string', default: '25' },
    /** Requests the profile covers, when there is no --results to take them from. */
    requests: { type: 'string' },
  },
});
let windows: [number, number][] | undefined;
let requests: number | undefined = opts.requests ? Number(opts.requests) : undefined;
if (opts.results) {
  const results = JSON.parse(readFileSync(opts.results, 'utf8')) as {
    rows: { id: string; variant: string; rps: number; windows: [number, number][] }[];
  };
  const row = results.rows.find((r) => r.id === opts.scenario && r.variant === opts.variant);
  if (!row)
    throw new Error(`no row for scenario ${opts.scenario} variant ${opts.variant} in ${opts.results}`);
  windows = row.windows;
  // Requests completed in the windows: the median rate over the total measured time (µs).
  requests = row.rps * row.windows.reduce((n, [a, b]) => n + (b - a) / 1e6, 0);
}
const inWindow = (t: number) => !windows || windows.some(([a, b]) => t >= a && t <= b);
const top = Number(opts.top);
const self = new Map<string, number>();
const byModule = new Map<string, number>();
const bySteps = new Map<string, number>();
let total = 0;
let idle = 0;
for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  let at = p.startTime;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    at += dt;
    if (!inWindow(at)) return;
    const n = nodes.get(id);
    if (!n) return;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += dt;
      return;
    }
    total += dt;
    const mod = ['(garbage collector)', '(program)'].includes(name) ? name : moduleOf(n.callFrame.url);
    const key = `${name} ${mod === name ? '' : `[${mod}:${n.callFrame.lineNumber + 1}]`}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    byModule.set(mod, (byModule.get(mod) ?? 0) + dt);
    const step = stepOf(mod);
    bySteps.set(step, (bySteps.get(step) ?? 0) + dt);
  });
}
const pct = (x: number) => `${((100 * x) / total).toFixed(1).padStart(5)}%`;
const ms = (x: number) => `${(x / 1000).toFixed(0).padStart(7)} ms`;
const perRequest = (x: number) => (requests ? `${(x / requests).toFixed(1).padStart(7)} µs/req` : '');
const lines = [
  `busy ${ms(total)}, idle ${ms(idle)}${requests ? `, ${Math.round(requests)} requests` : ''}`,
  '',
  'self time by step:',
  ...[...bySteps].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${pct(v)} ${ms(v)} ${perRequest(v)}  ${k}`),
  ...(requests ? [`        total ${perRequest(total)}`] : []),
  '',
  'self time by module:',
  ...[...byModule]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, v]) => `${pct(v)} ${ms(v)}  ${k}`),
  '',
  'self time by function:',
  ...[...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, v]) => `${pct(v)} ${ms(v)}  ${k}`),
];
process.stdout.write(`${lines.join('\n')}\n`);
