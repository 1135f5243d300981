/** Postgres returns timestamptz as Date (pg) or Date (PGlite); normalise nullable ones. */
export const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
export const toDateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : toDate(v));

/**
 * Rows a DELETE/UPDATE affected: knex on `pg` resolves to a number, knex-pglite to the raw result
 * (`{ affectedRows }`); both count the same thing.
 */
export function affectedRows(result: unknown): number {
  if (typeof result === 'number') return result;
  const r = result as { affectedRows?: unknown; rowCount?: unknown } | null;
  const n = r?.affectedRows ?? r?.rowCount;
  return typeof n === 'number' ? n : 0;
}
