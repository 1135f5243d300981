/** Human output of the CLI: aligned columns for people; scripts use --json (docs/cli.md). */

function cell(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map(cell).join(',');
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Rows under a header of their keys (the union, in first-seen order), columns padded. */
export function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)';
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = [columns, ...rows.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => (row[i] as string).length)));
  return cells
    .map((row) =>
      row
        .map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i] as number)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const isRowList = (v: unknown): v is Record<string, unknown>[] =>
  Array.isArray(v) &&
  v.length > 0 &&
  v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));

/**
 * A command's result for a person: its single values as aligned `name  value` lines, then each
 * list of records as a table under its name.
 */
export function human(result: Record<string, unknown>): string {
  const entries = Object.entries(result);
  const scalars = entries.filter(([, v]) => !isRowList(v) && !(Array.isArray(v) && v.length === 0));
  const lists = entries.filter(([, v]) => Array.isArray(v) && (isRowList(v) || v.length === 0));
  const width = Math.max(0, ...scalars.map(([k]) => k.length));
  const parts: string[] = [];
  if (scalars.length > 0) parts.push(scalars.map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`).join('\n'));
  for (const [k, v] of lists) {
    const rows = v as Record<string, unknown>[];
    parts.push(entries.length === 1 ? table(rows) : `${k}:\n${table(rows)}`);
  }
  return parts.join('\n\n');
}
