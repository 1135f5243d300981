import type { Knex } from 'knex';
import { affectedRows } from '../stores/postgres/rows.js';
import { type ReplayCache, replayKey } from './replay.js';

/** How often expired proofs are deleted, and how many at most per statement. */
const PURGE_INTERVAL_MS = 60_000;
const PURGE_BATCH = 5000;

/**
 * The replay cache of the Postgres-only mode (and Redis' fallback while Redis is down): one
 * conditional upsert per proof on `dpop_proofs`, whose primary key makes exactly one of several
 * concurrent claims, on any instance, win. An expired entry may be claimed again.
 */
export class PostgresReplayCache implements ReplayCache {
  private purger: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Knex,
    private readonly now: () => number,
  ) {}

  async claim(id: string, ttlMs: number): Promise<boolean> {
    const now = new Date(this.now());
    const result = (await this.db.raw(
      `INSERT INTO dpop_proofs (id, expires_at) VALUES (?, ?)
       ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
        WHERE dpop_proofs.expires_at <= ?
       RETURNING id`,
      [replayKey(id), new Date(now.getTime() + ttlMs), now],
    )) as { rows: unknown[] };
    return result.rows.length === 1;
  }

  /** Starts the periodic purge (servers only; unref'd so it never keeps a process alive). */
  startPurge(): void {
    this.purger ??= setInterval(() => void this.purge().catch(() => undefined), PURGE_INTERVAL_MS);
    this.purger.unref();
  }

  async purge(): Promise<number> {
    const victims = this.db('dpop_proofs')
      .select('id')
      .where('expires_at', '<=', new Date(this.now()))
      .limit(PURGE_BATCH);
    return affectedRows(await this.db('dpop_proofs').whereIn('id', victims).del());
  }

  close(): void {
    clearInterval(this.purger);
    this.purger = undefined;
  }
}
