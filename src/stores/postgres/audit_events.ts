import type { Knex } from 'knex';
import type { AuditEvent, AuditEventType, AuditQuery, AuditStore, StoredAuditEvent } from '../types.js';
import { affectedRows, toDate } from './rows.js';

interface AuditRow {
  id: string | number | bigint;
  at: Date;
  type: AuditEventType;
  actor: string;
  ip: string | null;
  request_id: string | null;
  username: string | null;
  user_id: string | null;
  client_id: string | null;
  session_id: string | null;
  kid: string | null;
  detail: Record<string, never> | string;
}

const fromRow = (r: AuditRow): StoredAuditEvent => ({
  id: String(r.id),
  at: toDate(r.at),
  type: r.type,
  actor: r.actor,
  ip: r.ip,
  requestId: r.request_id,
  username: r.username,
  userId: r.user_id,
  clientId: r.client_id,
  sessionId: r.session_id,
  kid: r.kid,
  detail: typeof r.detail === 'string' ? JSON.parse(r.detail) : r.detail,
});

/**
 * The insert of audit rows with `q`, which is the caller's transaction when the event belongs to a
 * change (the event commits or rolls back with it); undefined for no rows. Built, not sent, so a
 * caller can send it with other statements. A row that names a user only by id gets the username
 * from `users` in the same statement: no extra round trip.
 */
export function auditEventsInsert(
  q: Knex | Knex.Transaction,
  events: AuditEvent[],
): Knex.QueryBuilder | undefined {
  if (events.length === 0) return undefined;
  return q('audit_events').insert(
    events.map((e) => ({
      at: e.at,
      type: e.type,
      actor: e.actor,
      ip: e.ip,
      request_id: e.requestId,
      username:
        e.username ?? (e.userId ? q.raw('(select username from users where id = ?)', [e.userId]) : null),
      user_id: e.userId ?? null,
      client_id: e.clientId ?? null,
      session_id: e.sessionId ?? null,
      kid: e.kid ?? null,
      detail: JSON.stringify(e.detail),
    })),
  );
}

/** auditEventsInsert, sent. */
export async function insertAuditEvents(q: Knex | Knex.Transaction, events: AuditEvent[]): Promise<void> {
  await auditEventsInsert(q, events);
}

export class PostgresAuditStore implements AuditStore {
  constructor(private readonly db: Knex) {}

  record(events: AuditEvent[]): Promise<void> {
    return insertAuditEvents(this.db, events);
  }

  async list(query: AuditQuery): Promise<StoredAuditEvent[]> {
    const q = this.db<AuditRow>('audit_events').orderBy('id', 'desc').limit(query.limit);
    if (query.type) q.where('type', query.type);
    if (query.username) q.where('username', query.username);
    if (query.clientId) q.where('client_id', query.clientId);
    if (query.since) q.where('at', '>=', query.since);
    if (query.until) q.where('at', '<', query.until);
    if (query.beforeId) q.where('id', '<', query.beforeId);
    return (await q.select('*')).map(fromRow);
  }

  async purge(cutoff: Date, batch: number): Promise<number> {
    // Batched like the session purge: the `at` index feeds the subquery, LIMIT keeps locks short.
    const victims = this.db('audit_events').select('id').where('at', '<', cutoff).limit(batch);
    return affectedRows(await this.db('audit_events').whereIn('id', victims).del());
  }
}
