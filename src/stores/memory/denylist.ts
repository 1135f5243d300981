import { REPLICA_SWEEP_INTERVAL_MS, RevocationReplica } from '../revocation_replica.js';
import type { Denylist, Revocation, RevocationStore } from '../types.js';

/** How often expired entries are dropped (see revocation_replica.ts). */
export const DENYLIST_SWEEP_INTERVAL_MS = REPLICA_SWEEP_INTERVAL_MS;

/**
 * In-process denylist for the embedded mode: the replica (revocation_replica.ts) in front of the
 * durable Postgres record, the only process there is. Loaded from Postgres at start, so a restart
 * forgets nothing; expired entries are swept.
 */
export class MemoryDenylist implements Denylist {
  private readonly replica: RevocationReplica;

  constructor(
    private readonly durable: RevocationStore,
    private readonly now: () => number,
    private readonly sweepIntervalMs = DENYLIST_SWEEP_INTERVAL_MS,
  ) {
    this.replica = new RevocationReplica(now);
  }

  async load(): Promise<void> {
    await this.replica.rebuild(() => this.durable.listLive(new Date(this.now())));
    this.replica.startSweeping(this.sweepIntervalMs);
  }

  async add(entries: Revocation[]): Promise<void> {
    await this.durable.record(entries, new Date(this.now()));
    await this.cache(entries);
  }

  async cache(entries: Revocation[]): Promise<void> {
    for (const e of entries) this.replica.remember(e);
  }

  async isRevoked(jti: string, sid: string | undefined): Promise<boolean> {
    return this.replica.revoked(jti, sid);
  }

  /** One process writes every revocation here: the copy is always complete and current. */
  trusted(): boolean {
    return true;
  }

  /** Entries held in memory (expired ones included until the next sweep). */
  get size(): number {
    return this.replica.size;
  }

  /** Drops every entry whose token has expired. */
  sweep(): void {
    this.replica.sweep();
  }

  async close(): Promise<void> {
    this.replica.stop();
  }
}
