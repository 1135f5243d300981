import { LRUCache } from 'lru-cache';
import { isMetadataDocumentUrl } from '../cimd/document.js';
import type { MetadataDocumentResolver } from '../cimd/resolver.js';
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

/** The client table this cache reads; it forgets a client whenever the table says it changed. */
export type ClientTable = ClientStore & { onChange(listener: (clientId: string) => void): void };

/**
 * The client as the request paths read it: client authentication on /token, /introspect and
 * /revoke, the "is this client still enabled" check of every token verification, /authorize and
 * CORS. A read-through cache in front of the client table, so the hot paths do not cost a database
 * round trip per request; with CLIENT_ID_METADATA_DOCUMENTS=on an https client_id URL is the client
 * its metadata document describes (docs/mcp.md). One place, so every route sees the same client.
 * Lists and writes are the table's own (admin reads do not go through the cache).
 */
export class CachedClientStore implements ClientStore {
  private readonly cache: LRUCache<string, ClientRecord | typeof UNKNOWN>;

  constructor(
    private readonly table: ClientTable,
    now: () => number,
    ttlMs = CLIENT_CACHE_TTL_MS,
    max = CLIENT_CACHE_MAX_ENTRIES,
    /** Undefined while metadata documents are off. */
    private readonly documents?: MetadataDocumentResolver,
  ) {
    // The injected clock drives expiry (tests advance it); the TTL counts from the read, and a
    // hit does not extend it (updateAgeOnGet is off), so another instance's change shows within ttlMs.
    // ttlResolution 0: read the clock on every check rather than caching it for a millisecond.
    this.cache = new LRUCache({ max, ttl: ttlMs, ttlResolution: 0, perf: { now } });
    // Whoever changes a client through this instance's table (admin API, CLI, registration).
    table.onChange((id) => this.cache.delete(id));
  }

  /** How many ids are held (for tests of the bound). */
  get size(): number {
    return this.cache.size;
  }

  async findById(id: string): Promise<ClientRecord | undefined> {
    if (this.documents && isMetadataDocumentUrl(id)) return this.documentClient(this.documents, id);
    return this.row(id);
  }

  /**
   * Token verification's "is the client still enabled": tokens of a missing or disabled client are
   * no longer accepted; a metadata-document client's live while documents are on and its row is not
   * disabled (turning documents off stops them at once).
   */
  async isActive(id: string): Promise<boolean> {
    if (isMetadataDocumentUrl(id) && this.documents === undefined) return false;
    const client = await this.row(id);
    return client !== undefined && client.disabledAt === null;
  }

  private async row(id: string): Promise<ClientRecord | undefined> {
    const hit = this.cache.get(id);
    if (hit !== undefined) return hit === UNKNOWN ? undefined : hit;
    const client = await this.table.findById(id);
    this.cache.set(id, client ?? UNKNOWN);
    return client;
  }

  private async documentClient(documents: MetadataDocumentResolver, id: string): Promise<ClientRecord> {
    const client = await documents.client(id);
    const row = (await this.row(id)) ?? (await this.placeholder(client));
    // An admin may disable a metadata-document client like any other (docs/mcp.md).
    return row.disabledAt ? { ...client, disabledAt: row.disabledAt } : client;
  }

  /**
   * The row a metadata-document client's codes, sessions and audit events point to. It holds no
   * grants, scopes or redirect URIs (the document does, at each use), so a release that does not
   * know metadata documents can do nothing with it.
   */
  private async placeholder(client: ClientRecord): Promise<ClientRecord> {
    try {
      return await this.table.create({
        ...client,
        kind: 'metadata_document',
        grantTypes: [],
        scopes: [],
        audiences: [],
        audienceIsDefault: true,
        redirectUris: [],
      });
    } catch (err) {
      // Another request created it first.
      const row = await this.table.findById(client.id);
      if (row) return row;
      throw err;
    }
  }

  create(client: NewClient): Promise<ClientRecord> {
    return this.table.create(client);
  }

  list(): Promise<ClientRecord[]> {
    return this.table.list();
  }

  page(query: PageQuery): Promise<ClientRecord[]> {
    return this.table.page(query);
  }

  disable(id: string, at: Date): Promise<boolean> {
    return this.table.disable(id, at);
  }

  update(id: string, changes: ClientChanges): Promise<ClientRecord | undefined> {
    return this.table.update(id, changes);
  }

  setSecretHash(id: string, secretHash: string): Promise<boolean> {
    return this.table.setSecretHash(id, secretHash);
  }

  count(): Promise<number> {
    return this.table.count();
  }
}
