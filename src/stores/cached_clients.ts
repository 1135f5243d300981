import { LRUCache } from 'lru-cache';
import type { ClientChanges, ClientRecord, ClientStore, NewClient, PageQuery } from './types.js';

/**
 * How long a client record read from the database is trusted. When a client is disabled, changed
 * or given a new secret, this instance forgets its copy at once, other instances within this bound.
 * User tokens stop at once everywhere regardless (disabling denylists the sids of the client's
 * sessions); the bound only applies to client authentication and to client_credentials tokens,
 * which carry no sid and cannot be denylisted one by one (access tokens are not stored).
 */
export const CLIENT_CACHE_TTL_MS = 5000;

/**
 * Bounded: beyond this many distinct ids the least recently used entry goes, one at a time, so a
 * flood of unknown client_ids cannot push out every client in use at once (lru-cache).
 */
export const CLIENT_CACHE_MAX_ENTRIES = 10_000;

/** lru-cache stores no `undefined`: an unknown client is cached as this marker, for the TTL too. */
const UNKNOWN = Symbol('unknown client');

/**
 * A read-through cache in front of the client table, so the hot paths (client authentication on
 * /token and /introspect, the "is this client still enabled" check of every token verification)
 * do not cost a database round trip per request.
 */
export class CachedClientStore implements ClientStore {
  private readonly cache: LRUCache<string, ClientRecord | typeof UNKNOWN>;

  constructor(
    private readonly inner: ClientStore,
    now: () => number,
    ttlMs = CLIENT_CACHE_TTL_MS,
    max = CLIENT_CACHE_MAX_ENTRIES,
  ) {
    // The injected clock drives expiry (tests advance it); the TTL counts from the read, and a
    // hit does not extend it (updateAgeOnGet is off), so another instance's change shows within ttlMs.
    // ttlResolution 0: read the clock on every check rather than caching it for a millisecond.
    this.cache = new LRUCache({ max, ttl: ttlMs, ttlResolution: 0, perf: { now } });
  }

  /** How many ids are held (for tests of the bound). */
  get size(): number {
    return this.cache.size;
  }

  async findById(id: string): Promise<ClientRecord | undefined> {
    const hit = this.cache.get(id);
    if (hit !== undefined) return hit === UNKNOWN ? undefined : hit;
    const client = await this.inner.findById(id);
    this.cache.set(id, client ?? UNKNOWN);
    return client;
  }

  /** Tokens of a missing or disabled client are no longer accepted. */
  async isActive(id: string): Promise<boolean> {
    const client = await this.findById(id);
    return client !== undefined && client.disabledAt === null;
  }

  async create(client: NewClient): Promise<ClientRecord> {
    this.cache.delete(client.id);
    return this.inner.create(client);
  }

  list(): Promise<ClientRecord[]> {
    return this.inner.list();
  }

  page(query: PageQuery): Promise<ClientRecord[]> {
    return this.inner.page(query);
  }

  async disable(id: string, at: Date): Promise<boolean> {
    this.cache.delete(id);
    return this.inner.disable(id, at);
  }

  async update(id: string, changes: ClientChanges): Promise<ClientRecord | undefined> {
    this.cache.delete(id);
    return this.inner.update(id, changes);
  }

  async setSecretHash(id: string, secretHash: string): Promise<boolean> {
    this.cache.delete(id);
    return this.inner.setSecretHash(id, secretHash);
  }

  count(): Promise<number> {
    return this.inner.count();
  }
}
