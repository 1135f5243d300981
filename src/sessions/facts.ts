import type { AuditDetail, AuditEvent, AuditStamp } from '../stores/types.js';

/** The two kinds of session a user can hold (docs/sessions.md): a refresh family, a browser sign-in. */
export type SessionKind = 'refresh' | 'login';

/**
 * What the session operations establish, as values. The store turns them into audit rows with
 * `auditRows` inside the operation's own transaction; nothing else composes a session audit row.
 */
export type SessionFact =
  | {
      type: 'session.ended';
      kind: SessionKind;
      sid: string;
      userId: string;
      clientId: string | null;
      reason: string;
      at: Date;
    }
  | { type: 'refresh.reuse_detected'; sid: string; userId: string; clientId: string; at: Date }
  | { type: 'token.revoked'; sid: string; userId: string; clientId: string; at: Date };

/** The one mapping of session facts to audit rows (docs/audit.md), stamped with who caused them. */
export function auditRows(stamp: AuditStamp | undefined, facts: readonly SessionFact[]): AuditEvent[] {
  if (!stamp) return [];
  return facts.map((f) => ({
    ...stamp,
    type: f.type,
    at: f.at,
    userId: f.userId,
    clientId: f.clientId,
    sessionId: f.sid,
    detail: detailOf(f),
  }));
}

function detailOf(f: SessionFact): AuditDetail {
  switch (f.type) {
    case 'session.ended':
      // Refresh families were the only kind before login sessions joined them: no `kind` there.
      return f.kind === 'refresh' ? { reason: f.reason } : { reason: f.reason, kind: f.kind };
    case 'refresh.reuse_detected':
      return {};
    case 'token.revoked':
      return { token_type: 'refresh_token' };
  }
}
