import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const START = /<!-- bench:latest:start[^>]*-->\n/;
const END = '<!-- bench:latest:end -->';

/**
 * Puts a bench table (bench/results/latest.md) into the README's performance section, between the
 * `bench:latest` markers, so the README shows exactly the last run's table.
 */
export function updateReadme(root: string, table: string): void {
  const file = path.join(root, 'README.md');
  const text = readFileSync(file, 'utf8');
  const start = START.exec(text);
  const end = text.indexOf(END);
  if (!start || end < start.index) throw new Error('README.md has no bench:latest markers');
  const from = start.index + start[0].length;
  writeFileSync(file, `${text.slice(0, from)}${table.trimEnd()}\n${text.slice(end)}`);
}
