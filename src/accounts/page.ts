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

/** Undefined for anything that is not a cursor this server made. */
export function decodeListCursor(cursor: string): { createdAt: Date; id: string } | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([A-Za-z0-9_-]{1,64})$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  if (!m?.[1] || !m[2]) return undefined;
  const createdAt = new Date(m[1]);
  return Number.isNaN(createdAt.getTime()) ? undefined : { createdAt, id: m[2] };
}

export const pageLimit = (limit: number | undefined) =>
  Math.min(Math.max(1, limit ?? LIST_PAGE_DEFAULT), LIST_PAGE_MAX);

/** Given limit+1 rows, the page and the cursor of the next one (absent on the last page). */
export function pageOf<T extends { createdAt: Date; id: string }>(rows: T[], limit: number) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeListCursor(last) : undefined };
}
