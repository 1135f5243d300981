// `node --import tsx bench/profile.ts [--results R.json --scenario ID --variant LABEL] FILE.cpuprofile…`:
// where a V8 CPU profile (from `npm run bench -- --cpu-prof`) spent its time, as self time by module
// and by function. With --results, only the samples taken while that scenario's variant was under
// load count (profiles and the bench share the monotonic clock), so setup and other scenarios
// do not blur the picture.
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
  const src = url.indexOf('/dist/src/');
  if (src >= 0) return `tessera ${url.slice(src + '/dist/'.length)}`;
  return path.basename(url);
}

const { values: opts, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    results: { type: 'string' },
    scenario: { type: 'string' },
    variant: { type: 'string' },
    top: { type: 'string', default: '25' },
  },
});
let windows: [number, number][] | undefined;
if (opts.results) {
  const results = JSON.parse(readFileSync(opts.results, 'utf8')) as {
    rows: { id: string; variant: string; windows: [number, number][] }[];
  };
  const row = results.rows.find((r) => r.id === opts.scenario && r.variant === opts.variant);
  if (!row)
    throw new Error(`no row for scenario ${opts.scenario} variant ${opts.variant} in ${opts.results}`);
  windows = row.windows;
}
const inWindow = (t: number) => !windows || windows.some(([a, b]) => t >= a && t <= b);
const top = Number(opts.top);
const self = new Map<string, number>();
const byModule = new Map<string, number>();
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
  });
}
const pct = (x: number) => `${((100 * x) / total).toFixed(1).padStart(5)}%`;
const ms = (x: number) => `${(x / 1000).toFixed(0).padStart(7)} ms`;
const lines = [
  `busy ${ms(total)}, idle ${ms(idle)}`,
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
