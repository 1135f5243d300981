/** Postgres returns timestamptz as Date (pg) or Date (PGlite); normalise nullable ones. */
export const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
export const toDateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : toDate(v));
