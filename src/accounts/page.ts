import type { PageQuery } from '../stores/types.js';
import { AccountError } from './users.js';

/**
 * Opaque cursors for the admin lists (users, clients): the creation time and id of the last record
 * of a page, base64url-encoded. Keyset pagination stays stable while records are added.
 */
export const LIST_PAGE_DEFAULT = 50;
export const LIST_PAGE_MAX = 500;

export interface ListPage {
  limit?: number;
  cursor?: string;
}

export function encodeListCursor(record: { createdAt: Date; id: string }): string {
  return Buffer.from(`${record.createdAt.toISOString()}|${record.id}`).toString('base64url');
}

/**
 * Times a query may compare against: years 1 to 9999. JavaScript dates reach further (year 0,
 * 275760) than Postgres `timestamptz` takes as input, which fails with SQLSTATE 22008 (a 500).
 */
const FIRST_STORABLE = new Date('0001-01-01T00:00:00.000Z').getTime();
const LAST_STORABLE = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export function isStorableTime(at: Date): boolean {
  const ms = at.getTime();
  return !Number.isNaN(ms) && ms >= FIRST_STORABLE && ms <= LAST_STORABLE;
}

/**
 * Undefined for anything that is not a cursor this server made: a malformed or out-of-range time,
 * or an id `isId` refuses (user ids are UUIDs; a UUID column refuses other text with 22P02).
 */
export function decodeListCursor(
  cursor: string,
  isId: (id: string) => boolean = () => true,
): { createdAt: Date; id: string } | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([A-Za-z0-9_-]{1,64})$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  if (!m?.[1] || !m[2] || !isId(m[2])) return undefined;
  const createdAt = new Date(m[1]);
  return isStorableTime(createdAt) ? { createdAt, id: m[2] } : undefined;
}

export const pageLimit = (limit: number | undefined) =>
  Math.min(Math.max(1, limit ?? LIST_PAGE_DEFAULT), LIST_PAGE_MAX);

/**
 * One page: `load` is asked for limit+1 records after the cursor; the extra one only says that
 * another page exists. A cursor this server did not make is a validation error.
 */
export async function loadPage<T extends { createdAt: Date; id: string }>(
  page: ListPage,
  load: (query: PageQuery) => Promise<T[]>,
  isId?: (id: string) => boolean,
): Promise<{ items: T[]; nextCursor?: string }> {
  const limit = pageLimit(page.limit);
  const after = page.cursor === undefined ? undefined : decodeListCursor(page.cursor, isId);
  if (page.cursor !== undefined && !after) throw new AccountError('invalid', 'not a valid cursor', 'cursor');
  const rows = await load({ limit: limit + 1, after });
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return rows.length > limit && last ? { items, nextCursor: encodeListCursor(last) } : { items };
}
