import type { ClientChanges, ClientRecord, ClientStore, NewClient, PageQuery } from './types.js';

/**
 * How long a client record read from the database is trusted. When a client is disabled, changed
 * or given a new secret, this instance forgets its copy at once, other instances within this bound.
 * User tokens stop at once everywhere regardless (disabling denylists the sids of the client's
 * sessions); the bound only applies to client authentication and to client_credentials tokens,
 * which carry no sid and cannot be denylisted one by one (access tokens are not stored).
 */
export const CLIENT_CACHE_TTL_MS = 5000;

/** Bounded: beyond this many distinct ids the cache starts over rather than growing. */
const MAX_ENTRIES = 10_000;

/**
 * A read-through cache in front of the client table, so the hot paths (client authentication on
 * /token and /introspect, the "is this client still enabled" check of every token verification)
 * do not cost a database round trip per request.
 */
export class CachedClientStore implements ClientStore {
  private readonly cache = new Map<string, { client: ClientRecord | undefined; until: number }>();

  constructor(
    private readonly inner: ClientStore,
    private readonly now: () => number,
    private readonly ttlMs = CLIENT_CACHE_TTL_MS,
  ) {}

  async findById(id: string): Promise<ClientRecord | undefined> {
    const hit = this.cache.get(id);
    if (hit && hit.until > this.now()) return hit.client;
    const client = await this.inner.findById(id);
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(id, { client, until: this.now() + this.ttlMs });
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
