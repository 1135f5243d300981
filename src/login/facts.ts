import type { AuditRecorder } from '../accounts/users.js';
import type { EventBus } from '../events.js';
import type { AuditStamp } from '../stores/types.js';

/** How the user signed in, as the audit trail records it. */
export type LoginMethod = 'password' | 'authorization_code';

/** Kept in the audit trail and the debug log only: every caller sees one generic failure. */
export type LoginFailureReason = 'unknown_user' | 'bad_password' | 'disabled';

interface LoginFactBase {
  /** The request's stamp: the client acted, from this IP, in this request. */
  stamp: AuditStamp;
  clientId: string;
  /** As typed (an unknown username is recorded too: it is what a guesser tried). */
  username: string;
  method: LoginMethod;
}

/** What a credentials check established; published once, by publishLoginFact. */
export type LoginFact =
  /** `sessionId`: the refresh family or login session the login started, when it has an id. */
  | (LoginFactBase & { type: 'login.succeeded'; userId: string; sessionId?: string })
  | (LoginFactBase & { type: 'login.failed'; reason: LoginFailureReason; userId?: string })
  /** This failure locked the username+IP pair. */
  | (LoginFactBase & { type: 'login.locked' });

export interface LoginFactDeps {
  audit: AuditRecorder;
  events: EventBus;
}

/**
 * The one mapping of a login fact to its audit row and its event (metrics and logs subscribe to
 * the event in observability.ts). The credentials check has no transaction of its own, so the row
 * is written here, once per fact; the event follows the row.
 */
export async function publishLoginFact(deps: LoginFactDeps, fact: LoginFact): Promise<void> {
  const { stamp, clientId, username, method } = fact;
  switch (fact.type) {
    case 'login.succeeded':
      await deps.audit.record(
        stamp,
        fact.type,
        { username, userId: fact.userId, clientId, sessionId: fact.sessionId ?? null },
        { method },
      );
      deps.events.emit(fact.type, { clientId, userId: fact.userId, method });
      return;
    case 'login.failed':
      await deps.audit.record(
        stamp,
        fact.type,
        { username, userId: fact.userId, clientId },
        { reason: fact.reason, method },
      );
      deps.events.emit(fact.type, { clientId, reason: fact.reason });
      return;
    case 'login.locked':
      await deps.audit.record(stamp, fact.type, { username, clientId }, { method });
      deps.events.emit(fact.type, { clientId });
      return;
  }
}
