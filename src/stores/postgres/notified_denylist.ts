import type { NotificationSource } from '../../db/notifications.js';
import type { EventBus } from '../../events.js';
import type { Denylist, Revocation, RevocationKind, RevocationStore } from '../types.js';

/**
 * The channel a trigger on `revocations` notifies for every row it writes (migration
 * 20261201_201_postgres_only_mode), whoever writes it: this release, the previous one, the CLI.
 */
export const REVOCATIONS_CHANNEL = 'tessera_revocations';

/** Expired entries leave the cache at least this often, so memory follows the live set. */
const SWEEP_MS = 60_000;

/** `<kind> <expires-at ms> <value>`: the value last, so it may hold any character. */
export function parseRevocationPayload(payload: string): Revocation | undefined {
  const m = /^(jti|sid) (\d+) (.+)$/s.exec(payload);
  if (!m) return undefined;
  return { kind: m[1] as RevocationKind, value: m[3] as string, expiresAt: new Date(Number(m[2])) };
}

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
  private readonly entries = new Map<string, number>();
  private readonly deps: NotifiedDenylistDeps;
  /** Bumped by every connection loss; a rebuild trusts the cache only if none happened meanwhile. */
  private generation = 0;
  private loadedGeneration = -1;
  private readonly stops: (() => void)[] = [];
  private sweeper: NodeJS.Timeout | undefined;

  constructor(deps: NotifiedDenylistDeps) {
    this.deps = deps;
    const { notifications } = deps;
    if (!notifications) return;
    this.stops.push(
      notifications.on(REVOCATIONS_CHANNEL, (payload) => {
        const entry = parseRevocationPayload(payload);
        if (entry) this.remember(entry);
      }),
      notifications.onDown((err) => {
        this.generation++;
        deps.events.emit('dependency.degraded', { dependency: 'database', err });
      }),
      notifications.onReconnect(() => {
        void this.rebuild().then(
          () => deps.events.emit('dependency.recovered', { dependency: 'database' }),
          (err) => deps.events.emit('dependency.degraded', { dependency: 'database', err }),
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
    if (this.loadedGeneration !== this.generation && notifications.state() === 'up') {
      await this.rebuild().catch(() => undefined);
    }
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  async add(entries: Revocation[]): Promise<void> {
    // Durable first; the table's trigger tells every other instance.
    await this.deps.durable.record(entries, new Date(this.deps.now()));
    await this.cache(entries);
  }

  /** Already in the table (and notified by its trigger): this instance need not wait for the echo. */
  async cache(entries: Revocation[]): Promise<void> {
    for (const e of entries) this.remember(e);
  }

  async isRevoked(jti: string, sid: string | undefined): Promise<boolean> {
    if (this.trusted()) return this.live(`jti:${jti}`) || (sid !== undefined && this.live(`sid:${sid}`));
    return this.deps.durable.anyRevoked(
      [{ kind: 'jti', value: jti }, ...(sid === undefined ? [] : [{ kind: 'sid' as const, value: sid }])],
      new Date(this.deps.now()),
    );
  }

  /** True while the cache is complete and its notifications provably current. */
  trusted(): boolean {
    return this.loadedGeneration === this.generation && this.deps.notifications?.fresh() === true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const stop of this.stops) stop();
  }

  private async rebuild(): Promise<void> {
    const generation = this.generation;
    const live = await this.deps.durable.listLive(new Date(this.deps.now()));
    for (const e of live) this.remember(e);
    if (generation === this.generation) this.loadedGeneration = generation;
  }

  private remember(e: Revocation): void {
    const key = `${e.kind}:${e.value}`;
    const exp = e.expiresAt.getTime();
    if (exp <= this.deps.now()) return;
    this.entries.set(key, Math.max(this.entries.get(key) ?? 0, exp));
  }

  private live(key: string): boolean {
    const exp = this.entries.get(key);
    return exp !== undefined && exp > this.deps.now();
  }

  private sweep(): void {
    const now = this.deps.now();
    for (const [key, exp] of this.entries) if (exp <= now) this.entries.delete(key);
  }
}
