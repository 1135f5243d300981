/** The audit trail (docs/audit.md). */

/** Audit event types (docs/audit.md). A closed list, so filters and metrics stay bounded. */
export const AUDIT_EVENT_TYPES = [
  'login.succeeded',
  'login.failed',
  'login.locked',
  'refresh.reuse_detected',
  'token.revoked',
  'session.ended',
  'user.created',
  'user.disabled',
  'user.password_changed',
  'client.created',
  'client.updated',
  'client.disabled',
  'client.secret_rotated',
  'key.rotated',
  'key.revoked',
  'key.rewrapped',
  'admin.refused',
  'client.registered',
  'client.registration_updated',
  'client.registration_deleted',
  'consent.granted',
  'consent.denied',
  'consent.revoked',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Who did it, from where, in which request: the part of an audit event every change shares. */
export interface AuditStamp {
  /** Admin client id, `cli`, `system`, or the OAuth client that made the request. */
  actor: string;
  ip: string | null;
  requestId: string | null;
}

/** What an event is about. `username` is looked up from `userId` when only the id is known. */
export interface AuditSubject {
  username?: string | null;
  userId?: string | null;
  clientId?: string | null;
  sessionId?: string | null;
  kid?: string | null;
}

export type AuditDetail = Record<string, string | number | boolean | string[]>;

/** One audit trail entry. Never holds a password, secret or token. */
export interface AuditEvent extends AuditStamp, AuditSubject {
  type: AuditEventType;
  at: Date;
  detail: AuditDetail;
}

export interface StoredAuditEvent extends AuditEvent {
  id: string;
}

export interface AuditQuery {
  type?: AuditEventType;
  username?: string;
  clientId?: string;
  since?: Date;
  until?: Date;
  /** Events older than this id (the cursor of the previous page). */
  beforeId?: string;
  limit: number;
}

/** The audit trail (Postgres). Writes that belong to a change ride in that change's transaction. */
export interface AuditStore {
  record(events: AuditEvent[]): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<StoredAuditEvent[]>;
  /** Deletes up to `batch` events older than `cutoff`. */
  purge(cutoff: Date, batch: number): Promise<number>;
}
