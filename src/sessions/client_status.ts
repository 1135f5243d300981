import type { ClientStore } from '../stores/types.js';

/**
 * How long a "client is enabled" answer is trusted. Disabling a client denylists the `sid` of all
 * its sessions at once (every instance sees that through the denylist), so user tokens stop
 * immediately; this cache only covers tokens without a session (client_credentials), which stop
 * within this bound on other instances and at once on the instance that disabled the client.
 */
export const CLIENT_STATUS_TTL_MS = 5000;

/**
 * Answers "may tokens of this client still be accepted?" for the access-token verifier. Chosen over
 * denylisting every jti (impossible: access tokens are not stored) and over a per-request database
 * read (one query per verification at full load).
 */
export class ClientStatusCache {
  private readonly cache = new Map<string, { active: boolean; until: number }>();

  constructor(
    private readonly clients: ClientStore,
    private readonly now: () => number,
    private readonly ttlMs = CLIENT_STATUS_TTL_MS,
  ) {}

  async isActive(clientId: string): Promise<boolean> {
    const hit = this.cache.get(clientId);
    if (hit && hit.until > this.now()) return hit.active;
    const client = await this.clients.findById(clientId);
    const active = client !== undefined && client.disabledAt === null;
    // Bounded: one entry per client id that ever presented a validly signed token.
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(clientId, { active, until: this.now() + this.ttlMs });
    return active;
  }

  forget(clientId: string): void {
    this.cache.delete(clientId);
  }
}
