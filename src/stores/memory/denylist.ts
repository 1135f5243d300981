import type { Denylist, Revocation, RevocationStore } from '../types.js';

/**
 * How often expired entries are dropped. Entries live at most as long as the tokens they block
 * (ACCESS_TOKEN_TTL, a session's lifetime), so without a sweep a busy embedded server would keep
 * every revocation it ever saw in memory.
 */
export const DENYLIST_SWEEP_INTERVAL_MS = 60_000;

/**
 * In-process denylist for the embedded mode: a Map in front of the durable Postgres record.
 * Loaded from Postgres at start, so a restart forgets nothing; expired entries are swept.
 */
export class MemoryDenylist implements Denylist {
  private readonly entries = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly durable: RevocationStore,
    private readonly now: () => number,
    private readonly sweepIntervalMs = DENYLIST_SWEEP_INTERVAL_MS,
  ) {}

  async load(): Promise<void> {
    for (const e of await this.durable.listLive(new Date(this.now()))) this.remember(e);
    this.sweeper ??= setInterval(() => this.sweep(), this.sweepIntervalMs);
    // A timer must not keep a finished CLI command or test alive.
    this.sweeper.unref();
  }

  async add(entries: Revocation[]): Promise<void> {
    await this.durable.record(entries, new Date(this.now()));
    await this.cache(entries);
  }

  async cache(entries: Revocation[]): Promise<void> {
    for (const e of entries) this.remember(e);
  }

  async isRevoked(jti: string, sid: string | undefined): Promise<boolean> {
    return this.live(`jti:${jti}`) || (sid !== undefined && this.live(`sid:${sid}`));
  }

  /** Entries held in memory (expired ones included until the next sweep). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops every entry whose token has expired. */
  sweep(): void {
    const now = this.now();
    for (const [key, exp] of this.entries) if (exp <= now) this.entries.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private remember(e: Revocation): void {
    const key = `${e.kind}:${e.value}`;
    this.entries.set(key, Math.max(this.entries.get(key) ?? 0, e.expiresAt.getTime()));
  }

  private live(key: string): boolean {
    const exp = this.entries.get(key);
    return exp !== undefined && exp > this.now();
  }
}
