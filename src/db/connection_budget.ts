import pg from 'pg';

/**
 * Refuses a pool layout Postgres cannot serve: `processes × poolMax` connections must fit in
 * `max_connections` minus the slots reserved for superusers. Checked once at start (one short
 * connection); when the database cannot be reached, the normal start reports that instead.
 * Returns a one-line reason, or undefined when the layout fits.
 */
export async function connectionBudgetError(
  url: string,
  processes: number,
  poolMax: number,
  /** Connections each process holds outside its pool: the LISTEN connection of the Postgres-only mode. */
  extraPerProcess = 0,
): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  let limits: { max: number; reserved: number };
  try {
    await client.connect();
    const { rows } = await client.query(
      `SELECT current_setting('max_connections')::int AS max,
              current_setting('superuser_reserved_connections')::int AS reserved`,
    );
    limits = rows[0] as { max: number; reserved: number };
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
  const needed = processes * (poolMax + extraPerProcess);
  const available = limits.max - limits.reserved;
  if (needed <= available) return undefined;
  return (
    `WORKERS × DATABASE_POOL_MAX = ${processes} × ${poolMax} = ${processes * poolMax} connections` +
    (extraPerProcess ? ` plus ${processes * extraPerProcess} for LISTEN (${needed} in all)` : '') +
    ', but Postgres ' +
    `allows ${available} (max_connections ${limits.max} − ${limits.reserved} reserved); lower one of them`
  );
}
