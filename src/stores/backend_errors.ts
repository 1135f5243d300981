import { type Dependency, StoreError } from '../errors.js';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

/**
 * The messages of a connection that is gone: pg's "Connection terminated (unexpectedly)", "Client
 * was closed and is not queryable" and "Client has encountered a connection error and is not
 * queryable" (a pooled client whose socket broke), ioredis's "Connection is closed". knex prefixes
 * the statement ("ROLLBACK - …"), and when a transaction's ROLLBACK fails on such a connection it
 * rejects with that error in place of the one that failed the transaction (knex
 * lib/execution/transaction.js), so a restart of Postgres mid-transaction surfaces as one of these.
 */
const CLOSED_CONNECTION = /Connection terminated|connection.*closed|Client was closed|is not queryable/i;

/**
 * Connection-level failures that mean "the backend is down" rather than "this query is wrong":
 * network errors, knex pool timeouts, SQLSTATE class 08 (connection exception) and 57P0x (admin
 * shutdown, crash shutdown, cannot connect now), and the messages pg and ioredis use for a closed
 * connection. Only this module reads driver internals.
 */
export function isConnectionFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'KnexTimeoutError') return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || /^08/.test(code) || /^57P0/.test(code))) {
    return true;
  }
  return CLOSED_CONNECTION.test(err.message);
}

/**
 * SQLSTATEs that mean "this transaction lost a race with a concurrent one": serialization_failure,
 * deadlock_detected, lock_not_available. Retrying, or answering as the loser, is correct.
 */
const CONFLICT_STATES = new Set(['40001', '40P01', '55P03']);
/** unique_violation: a concurrent (or earlier) insert of the same key won. */
const EXISTS_STATE = '23505';

const sqlState = (err: unknown) => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * A backend failure as a typed store error: `unavailable` (the dependency is down), `conflict`
 * (lost a race), `exists` (the key is taken). Anything else (a bug) is passed through untouched.
 */
export function toStoreError(err: unknown, dependency: Dependency): unknown {
  if (err instanceof StoreError) return err;
  if (isConnectionFailure(err))
    return new StoreError('unavailable', `${dependency} unavailable`, { cause: err, dependency });
  const state = sqlState(err);
  if (state !== undefined && CONFLICT_STATES.has(state))
    return new StoreError('conflict', 'lost a race with a concurrent transaction', {
      cause: err,
      dependency,
    });
  if (state === EXISTS_STATE)
    return new StoreError('exists', 'the key is already taken', { cause: err, dependency });
  return err;
}

/**
 * The store boundary: every method of `store` that returns a promise rejects with a typed
 * StoreError when `dependency` is unreachable, so no layer above ever sees a driver error.
 * Methods run on the store itself (private fields keep working); other members pass through.
 */
export function guarded<T extends object>(store: T, dependency: Dependency): T {
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result instanceof Promise
          ? result.catch((err: unknown) => Promise.reject(toStoreError(err, dependency)))
          : result;
      };
    },
  });
}
