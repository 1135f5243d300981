// `node --import tsx bench/profile.ts FILE.cpuprofile [more…]`: where a V8 CPU profile (from
// `npm run bench -- --cpu-prof`) spent its time: self time by module and by function.
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
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

const top = Number(process.env.TOP ?? 25);
const self = new Map<string, number>();
const byModule = new Map<string, number>();
let total = 0;
let idle = 0;
for (const file of process.argv.slice(2)) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
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
