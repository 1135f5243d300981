import type { NotificationSource } from '../../db/notifications.js';
import type { EventBus } from '../../events.js';
import { emitSignal } from '../../facts/publisher.js';
import { parseRevocationPayload, RevocationReplica } from '../revocation_replica.js';
import type { Denylist, Revocation, RevocationStore } from '../types.js';

/**
 * The channel a trigger on `revocations` notifies for every row it writes (migration
 * 20261201_201_postgres_only_mode), whoever writes it: this release, the previous one, the CLI.
 */
export const REVOCATIONS_CHANNEL = 'tessera_revocations';

/** The payload the trigger sends; the same format the Redis mode publishes. */
export { parseRevocationPayload } from '../revocation_replica.js';

export interface NotifiedDenylistDeps {
  /** The source of truth, also the answer whenever the cache cannot be trusted. */
  durable: RevocationStore;
  /**
   * The process's listening connection. Undefined in a process that only writes revocations (the
   * CLI): it keeps no copy and reads the table, and the trigger tells the servers.
   */
  notifications: NotificationSource | undefined;
  events: EventBus;
  now: () => number;
}

/**
 * The denylist of the Postgres-only production mode (docs/scaling.md): an in-process copy of the
 * live revocations, kept current by Postgres LISTEN/NOTIFY, in front of the `revocations` table.
 *
 * Every instance LISTENs before it loads the table, so nothing committed in between is missed;
 * every revocation reaches every instance within milliseconds. Whenever the listening connection
 * is down, reconnecting, or has not proved itself within its trust window, checks read the table
 * instead (one indexed query): slower, never less safe. After a reconnection the copy is rebuilt
 * from the table before it is trusted again, since notifications sent meanwhile are lost.
 */
export class NotifiedDenylist implements Denylist {
  /** Invalidated by every connection loss; complete again after a snapshot read since. */
  private readonly replica: RevocationReplica;
  private readonly deps: NotifiedDenylistDeps;
  private readonly stops: (() => void)[] = [];

  constructor(deps: NotifiedDenylistDeps) {
    this.deps = deps;
    this.replica = new RevocationReplica(deps.now);
    const { notifications } = deps;
    if (!notifications) return;
    this.stops.push(
      notifications.on(REVOCATIONS_CHANNEL, (payload) => {
        const entry = parseRevocationPayload(payload);
        if (entry) this.replica.remember(entry);
      }),
      notifications.onDown((err) => {
        this.replica.invalidate();
        emitSignal(deps.events, 'dependency.degraded', { dependency: 'database', err });
      }),
      notifications.onReconnect(() => {
        void this.rebuild().then(
          () => emitSignal(deps.events, 'dependency.recovered', { dependency: 'database' }),
          (err) => emitSignal(deps.events, 'dependency.degraded', { dependency: 'database', err }),
        );
      }),
    );
  }

  /** At start: wait briefly for the listening connection; its first connection triggers the load. */
  async load(): Promise<void> {
    const { notifications } = this.deps;
    if (!notifications) return;
    await notifications.ready();
    // The reconnect handler may still be loading: make sure a snapshot is in before serving.
    if (!this.replica.complete() && notifications.state() === 'up') {
      await this.rebuild().catch(() => undefined);
    }
    this.replica.startSweeping();
  }

  async add(entries: Revocation[]): Promise<void> {
    // Durable first; the table's trigger tells every other instance.
    await this.deps.durable.record(entries, new Date(this.deps.now()));
    await this.cache(entries);
  }

  /** Already in the table (and notified by its trigger): this instance need not wait for the echo. */
  async cache(entries: Revocation[]): Promise<void> {
    for (const e of entries) this.replica.remember(e);
  }

  async isRevoked(jti: string, sid: string | undefined): Promise<boolean> {
    if (this.trusted()) return this.replica.revoked(jti, sid);
    return this.deps.durable.anyRevoked(
      [{ kind: 'jti', value: jti }, ...(sid === undefined ? [] : [{ kind: 'sid' as const, value: sid }])],
      new Date(this.deps.now()),
    );
  }

  /** True while the cache is complete and its notifications provably current. */
  trusted(): boolean {
    return this.replica.complete() && this.deps.notifications?.fresh() === true;
  }

  async close(): Promise<void> {
    this.replica.stop();
    for (const stop of this.stops) stop();
  }

  private async rebuild(): Promise<void> {
    await this.replica.rebuild(() => this.deps.durable.listLive(new Date(this.deps.now())));
  }
}
