import type { EventEmitter } from 'node:events';
import type { EventBus, OperationalSignal, TesseraEvents } from '../events.js';
import type { AuditStamp, Denylist, Revocation } from '../stores/types.js';
import type { SecurityFact } from './facts.js';

export interface FactPublisherDeps {
  events: EventBus;
  /** Only its cache: whoever established a revocation already wrote it durably. */
  denylist: Pick<Denylist, 'cache'>;
}

/**
 * After commit: the one place facts leave their operation. The denylist cache learns what the
 * transaction revoked (the durable rows are already in `revocations`, and in the Postgres-only
 * mode its trigger has notified every instance once); the event bus gets one event per fact,
 * and src/observability.ts turns events into metrics and log lines.
 */
export class FactPublisher {
  constructor(private readonly deps: FactPublisherDeps) {}

  async published(facts: readonly SecurityFact[], revoked: readonly Revocation[] = []): Promise<void> {
    if (revoked.length > 0) await this.deps.denylist.cache([...revoked]);
    for (const fact of facts) emit(this.deps.events, fact);
  }
}

/** The bus as facts see it: no operational signal's name (those are `emitSignal`'s). */
type FactEvents = Pick<EventEmitter<Omit<TesseraEvents, OperationalSignal>>, 'emit'>;

/** The event of a fact, in the payload src/events.ts declares; facts without one are audit-only. */
function emit(events: FactEvents, f: SecurityFact): void {
  switch (f.type) {
    case 'session.ended':
      // Login sessions of /authorize never had an event; a family's end is `session.revoked`.
      if (f.kind === 'refresh') events.emit('session.revoked', { familyId: f.sid, reason: f.reason });
      return;
    case 'refresh.reuse_detected':
      events.emit(f.type, { clientId: f.clientId, familyId: f.sid });
      return;
    case 'token.revoked':
      events.emit(f.type, {
        clientId: f.clientId,
        kind: f.token,
        id: f.token === 'refresh' ? f.sid : f.jti,
      });
      return;
    case 'login.succeeded':
      events.emit(f.type, { clientId: f.clientId, userId: f.userId, method: f.method });
      return;
    case 'login.failed':
      events.emit(f.type, { clientId: f.clientId, reason: f.reason });
      return;
    case 'login.locked':
      events.emit(f.type, { clientId: f.clientId });
      return;
    case 'key.rotated':
      events.emit(f.type, { activeKid: f.kid, nextKid: f.nextKid, forced: f.forced });
      return;
    case 'key.revoked':
      events.emit(f.type, { kid: f.kid });
      return;
    case 'token.issued': {
      const { type: _, ...payload } = f;
      events.emit(f.type, payload);
      return;
    }
    case 'refresh.rotated':
    case 'refresh.leeway_used':
      events.emit(f.type, { clientId: f.clientId, familyId: f.familyId });
      return;
    case 'code.reuse_detected':
      events.emit(f.type, { clientId: f.clientId, familyId: f.familyId });
      return;
    default:
      return;
  }
}

/**
 * What the domain modules need of the writer of facts that have no transaction of their own
 * (src/stores/postgres/facts.ts; the CLI and the server wire the same one).
 */
export interface FactSink {
  record(stamp: AuditStamp, facts: readonly SecurityFact[]): Promise<void>;
}

/**
 * The one entry point of operational signals (a refused client or token, an error answer, a
 * limiter, a dependency going down or back up, keys reloaded): events that are no security fact
 * and have no audit row. Same event bus, so src/observability.ts makes the same metrics and log
 * lines of them; the name is typed to the signals, so no caller can raise a fact's event here.
 */
export function emitSignal<K extends OperationalSignal>(
  events: EventBus,
  name: K,
  payload: TesseraEvents[K][0],
): void {
  // The bus's emit cannot be narrowed by a generic name; the signature above is the check.
  (events.emit as (name: OperationalSignal, payload: TesseraEvents[K][0]) => boolean).call(
    events,
    name,
    payload,
  );
}
