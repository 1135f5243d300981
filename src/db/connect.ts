import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';
import type { Logger } from 'pino';
import { preparePrivateDataDir } from './data_dir.js';
import { embeddedClusterPath } from './embedded_lock.js';
import { openOwnerOnlyPglite } from './owner_only_pglite.js';

/**
 * knex-pglite (and PGlite with it) is loaded only when the embedded mode asks for it: a production
 * process never carries the embedded database's code. It is a CommonJS package, so a synchronous
 * require keeps connectDatabase synchronous.
 */
const loadPgLiteClient = (): typeof Knex.Client =>
  createRequire(import.meta.url)('knex-pglite') as typeof Knex.Client;

export interface DatabaseTarget {
  /** Postgres connection string; undefined → embedded PGlite. */
  url: string | undefined;
  /** PGlite data folder; `null` → in-memory (tests). */
  dataDir: string | null;
  /** Postgres pool size (DATABASE_POOL_MAX); ignored by PGlite, which has one connection. */
  poolMax?: number;
  /** Where knex's own warnings go (pool errors during an outage); silent when omitted (tests). */
  log?: Logger;
}

/** knex prints pool and connection warnings with console.* unless given a logger. */
function knexLog(log: Logger | undefined): Knex.Config['log'] {
  const to = (level: 'warn' | 'error' | 'debug') => (message: unknown) =>
    log?.[level]({ knex: message instanceof Error ? message.message : String(message) }, 'database client');
  return { warn: to('warn'), error: to('error'), debug: to('debug'), deprecate: to('debug') };
}

/** Opens knex on `pg` for a real database, or on PGlite (one in-process connection) otherwise. */
export function connectDatabase(target: DatabaseTarget): Knex {
  if (target.url) {
    return knexFactory({
      client: 'pg',
      connection: target.url,
      // A short acquire timeout turns a database outage into a quick 503 instead of a hung request.
      pool: { min: 0, max: target.poolMax ?? 10 },
      acquireConnectionTimeout: 5000,
      log: knexLog(target.log),
    });
  }
  // knex-pglite: `{}` is an in-memory database, `{ pglite }` one we opened. On disk the umask is
  // set (preparePrivateDataDir) before PGlite writes its first file, and PGlite's own chmods are
  // kept owner-only (owner_only_pglite.ts): DATA_DIR holds password hashes.
  let connection = {} as Knex.StaticConnectionConfig;
  if (target.dataDir !== null) {
    const dir = preparePrivateDataDir(target.dataDir);
    const pglite = openOwnerOnlyPglite(embeddedClusterPath(dir));
    connection = { pglite } as unknown as Knex.StaticConnectionConfig;
  }
  return knexFactory({
    client: loadPgLiteClient(),
    dialect: 'postgres',
    connection,
    // PGlite has exactly one connection; a query issued outside a running transaction waits here.
    acquireConnectionTimeout: 30000,
    log: knexLog(target.log),
  });
}
