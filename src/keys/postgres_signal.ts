import type { Knex } from 'knex';
import type { NotificationSource } from '../db/notifications.js';
import type { KeyChangeSignal } from './signal.js';

/** The channel of "the key table changed" in the Postgres-only mode. */
export const KEYS_CHANNEL = 'tessera_keys';

/**
 * "Reload your keys" over Postgres LISTEN/NOTIFY, for deployments without Redis. The same
 * contract as the Redis signal: best effort, no key data in the message, and a reload after every
 * reconnection of the listening connection because notifications sent meanwhile are lost; the
 * periodic reload (KEY_RELOAD_INTERVAL) stays the fallback.
 */
export class PostgresKeyChangeSignal implements KeyChangeSignal {
  private readonly listeners = new Set<() => void>();
  private readonly stops: (() => void)[];

  /**
   * @param db publishes (a pooled connection; NOTIFY is delivered when its statement commits)
   * @param notifications the process's listening connection; undefined in a process that only
   *   publishes (the CLI)
   */
  constructor(
    private readonly db: Knex,
    private readonly notifications: NotificationSource | undefined,
  ) {
    this.stops = notifications
      ? [notifications.on(KEYS_CHANNEL, () => this.notify()), notifications.onReconnect(() => this.notify())]
      : [];
  }

  async ready(): Promise<void> {
    await this.notifications?.ready();
  }

  async publish(): Promise<void> {
    await this.db.raw('SELECT pg_notify(?, ?)', [KEYS_CHANNEL, String(Date.now())]);
  }

  subscribe(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  async close(): Promise<void> {
    for (const stop of this.stops) stop();
    this.listeners.clear();
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }
}
