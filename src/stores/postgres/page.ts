import type { Knex } from 'knex';
import type { PageQuery } from '../types.js';

/**
 * Keyset pagination in creation order over a table with `created_at` and a unique `id`: stable
 * while rows are added, unlike OFFSET. Postgres keeps microseconds and a JavaScript Date only
 * milliseconds, so ordering and comparison both use the millisecond the cursor can carry.
 */
// biome-ignore lint/suspicious/noExplicitAny: knex query builders of any row type
export function afterCursor<Q extends Knex.QueryBuilder<any, any>>(db: Knex, q: Q, query: PageQuery): Q {
  const created = db.raw("date_trunc('milliseconds', created_at)");
  q.orderBy(created as never, 'asc')
    .orderBy('id', 'asc')
    .limit(query.limit);
  const after = query.after;
  if (after) {
    q.whereRaw("(date_trunc('milliseconds', created_at), id) > (?, ?)", [after.createdAt, after.id]);
  }
  return q;
}
