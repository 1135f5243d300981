import type { AuditDetail, AuditEvent, AuditStamp, AuditSubject, Revocation } from '../stores/types.js';
import type { SecurityFact } from './facts.js';

/**
 * The one mapping of facts to audit rows (docs/audit.md), stamped with who caused them. No stamp,
 * no rows: a store contract test or a replayed migration ends sessions without an actor.
 */
export function auditRows(
  stamp: AuditStamp | undefined,
  at: Date,
  facts: readonly SecurityFact[],
): AuditEvent[] {
  if (!stamp) return [];
  const rows: AuditEvent[] = [];
  for (const fact of facts) {
    const row = rowOf(fact);
    if (row)
      rows.push({ ...stamp, ...row.subject, type: fact.type as AuditEvent['type'], at, detail: row.detail });
  }
  return rows;
}

/** The durable denylist rows a fact implies when no transaction wrote them (an access token). */
export function revocationRows(facts: readonly SecurityFact[]): Revocation[] {
  return facts.flatMap((f) =>
    f.type === 'token.revoked' && f.token === 'access'
      ? [
          {
            kind: 'jti' as const,
            value: f.jti,
            expiresAt: f.expiresAt,
            reason: f.reason ?? 'revoked_by_client',
          },
        ]
      : [],
  );
}

type Row = { subject: AuditSubject; detail: AuditDetail } | undefined;

const row = (subject: AuditSubject, detail: AuditDetail = {}): Row => ({ subject, detail });

function rowOf(f: SecurityFact): Row {
  switch (f.type) {
    case 'session.ended': {
      const subject = { userId: f.userId, clientId: f.clientId, sessionId: f.sid };
      // Refresh families were the only kind before login sessions joined them: no `kind` there.
      return row(subject, f.kind === 'refresh' ? { reason: f.reason } : { reason: f.reason, kind: f.kind });
    }
    case 'refresh.reuse_detected':
      return row({ userId: f.userId, clientId: f.clientId, sessionId: f.sid });
    case 'token.revoked':
      if (f.token === 'refresh')
        return row(
          { userId: f.userId, clientId: f.clientId, sessionId: f.sid },
          { token_type: 'refresh_token' },
        );
      return row(
        { clientId: f.clientId, username: f.username, sessionId: f.sid },
        { token_type: 'access_token', jti: f.jti, ...(f.reason ? { reason: f.reason } : {}) },
      );
    case 'login.succeeded':
      return row(
        { username: f.username, userId: f.userId, clientId: f.clientId, sessionId: f.sessionId ?? null },
        { method: f.method },
      );
    case 'login.failed':
      return row(
        { username: f.username, userId: f.userId, clientId: f.clientId },
        { reason: f.reason, method: f.method },
      );
    case 'login.locked':
      return row({ username: f.username, clientId: f.clientId }, { method: f.method });
    case 'user.created':
      return row({ userId: f.userId, username: f.username }, { roles: f.roles });
    case 'user.disabled':
    case 'user.password_changed':
      return row({ userId: f.userId, username: f.username });
    case 'client.created':
      return row(
        { clientId: f.clientId },
        {
          grant_types: f.grantTypes,
          scopes: f.scopes,
          public: f.isPublic,
          admin: f.isAdmin,
          introspect: f.canIntrospect,
          dpop_bound_access_tokens: f.dpopBoundAccessTokens,
        },
      );
    case 'client.updated':
      return row({ clientId: f.clientId }, { fields: f.fields });
    case 'client.disabled':
    case 'client.secret_rotated':
    case 'client.registration_deleted':
      return row({ clientId: f.clientId });
    case 'client.registered':
      return row(
        { clientId: f.clientId },
        {
          application_type: f.applicationType,
          auth_method: f.authMethod,
          grant_types: f.grantTypes,
          redirect_hosts: f.redirectHosts,
          scope: f.scope,
        },
      );
    case 'client.registration_updated':
      return row({ clientId: f.clientId }, { redirect_hosts: f.redirectHosts, scope: f.scope });
    case 'admin.refused':
      return row({ clientId: f.clientId }, { action: f.action, reason: f.reason });
    case 'consent.granted':
    case 'consent.denied':
      return row({ userId: f.userId, clientId: f.clientId }, { scope: f.scope, resource: f.resource });
    case 'consent.revoked':
      return row(
        { userId: f.userId, clientId: f.clientId },
        { consents: f.consents, sessions_ended: f.sessionsEnded },
      );
    case 'key.rotated':
      return row({ kid: f.kid }, { previous_kid: f.previousKid, next_kid: f.nextKid, forced: f.forced });
    case 'key.revoked':
      return row({ kid: f.kid }, { previous_state: f.previousState });
    case 'key.rewrapped':
      return row({}, { rewrapped: f.rewrapped, total: f.total });
    case 'token.issued':
    case 'refresh.rotated':
    case 'refresh.leeway_used':
    case 'code.reuse_detected':
      return undefined;
  }
}
