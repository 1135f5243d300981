import type {
  AuditDetail,
  AuditEvent,
  AuditEventType,
  AuditQuery,
  AuditStamp,
  AuditStore,
  AuditSubject,
  StoredAuditEvent,
} from '../stores/types.js';

/** Changes made with the `tessera` command (docs/audit.md: actors). */
export const CLI_STAMP: AuditStamp = { actor: 'cli', ip: null, requestId: null };
/** Changes made by the server's own schedule (key rotation). */
export const SYSTEM_STAMP: AuditStamp = { actor: 'system', ip: null, requestId: null };

/** Builds one event; stores that write it inside their own transaction take it as a value. */
export function auditEvent(
  stamp: AuditStamp,
  type: AuditEventType,
  at: Date,
  subject: AuditSubject = {},
  detail: AuditDetail = {},
): AuditEvent {
  return { ...stamp, ...subject, type, at, detail };
}

/** Page size of GET /admin/audit and `tessera audit list` when none is asked for, and the most. */
export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 500;

/** The cursor is opaque to callers: the id of the last event of the page, base64url-encoded. */
export const encodeCursor = (id: string) => Buffer.from(`a:${id}`).toString('base64url');

/** Event ids are Postgres `bigserial`: 1 to 2^63-1. Anything else would fail in SQL (22003). */
const MAX_EVENT_ID = 2n ** 63n - 1n;

/** Undefined for anything that is not a cursor this server could have made. */
export function decodeCursor(cursor: string): string | undefined {
  const m = /^a:([1-9]\d{0,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m?.[1] !== undefined && BigInt(m[1]) <= MAX_EVENT_ID ? m[1] : undefined;
}

export interface AuditPage {
  events: StoredAuditEvent[];
  /** Present when older events exist: pass it back as `cursor` for the next page. */
  nextCursor?: string;
}

export interface AuditTrailDeps {
  store: AuditStore;
  now: () => number;
}

/**
 * Reading and purging the audit trail. Rows are written only as facts (src/facts/): inside the
 * change's own transaction, or by the facts writer for a change that has none.
 */
export class AuditTrail {
  constructor(private readonly deps: AuditTrailDeps) {}

  /** Newest first; one more row than asked tells whether another page exists. */
  async list(query: Omit<AuditQuery, 'limit'> & { limit?: number }): Promise<AuditPage> {
    const limit = auditPageSize(query.limit);
    return auditPage(await this.deps.store.list({ ...query, limit: limit + 1 }), limit);
  }

  purge(cutoff: Date, batch: number): Promise<number> {
    return this.deps.store.purge(cutoff, batch);
  }
}

/** The events of one page: `limit` asked (default, at most AUDIT_PAGE_MAX). */
export const auditPageSize = (limit: number | undefined) =>
  Math.min(Math.max(1, limit ?? AUDIT_PAGE_DEFAULT), AUDIT_PAGE_MAX);

/** One page from `limit + 1` rows read newest first: the extra row says another page exists. */
export function auditPage(rows: StoredAuditEvent[], limit: number): AuditPage {
  const events = rows.slice(0, limit);
  const last = events.at(-1);
  return rows.length > limit && last ? { events, nextCursor: encodeCursor(last.id) } : { events };
}

/** The public JSON shape of an event (GET /admin/audit, `tessera audit list --json`). */
export function describeAuditEvent(e: StoredAuditEvent) {
  return {
    id: e.id,
    at: e.at.toISOString(),
    type: e.type,
    actor: e.actor,
    ip: e.ip,
    request_id: e.requestId,
    username: e.username ?? null,
    client_id: e.clientId ?? null,
    session_id: e.sessionId ?? null,
    kid: e.kid ?? null,
    detail: e.detail,
  };
}
