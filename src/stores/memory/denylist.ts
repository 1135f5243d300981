import type { Denylist, Revocation, RevocationStore } from '../types.js';

/**
 * In-process denylist for the embedded mode: a Map in front of the durable Postgres record.
 * Loaded from Postgres at start, so a restart forgets nothing.
 */
export class MemoryDenylist implements Denylist {
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly durable: RevocationStore,
    private readonly now: () => number,
  ) {}

  async load(): Promise<void> {
    for (const e of await this.durable.listLive(new Date(this.now()))) this.remember(e);
  }

  async add(entries: Revocation[]): Promise<void> {
    await this.durable.record(entries, new Date(this.now()));
    for (const e of entries) this.remember(e);
  }

  async isRevoked(jti: string, sid: string | undefined): Promise<boolean> {
    return this.live(`jti:${jti}`) || (sid !== undefined && this.live(`sid:${sid}`));
  }

  private remember(e: Revocation): void {
    const key = `${e.kind}:${e.value}`;
    this.entries.set(key, Math.max(this.entries.get(key) ?? 0, e.expiresAt.getTime()));
  }

  private live(key: string): boolean {
    const exp = this.entries.get(key);
    if (exp === undefined) return false;
    if (exp <= this.now()) {
      this.entries.delete(key);
      return false;
    }
    return true;
  }
}
