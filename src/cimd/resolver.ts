import type { ThirdPartyConfig } from '../config.js';
import { OAuthError } from '../errors.js';
import type { ClientRecord } from '../stores/types.js';
import { THIRD_PARTY_FIXED, type ThirdPartySettings, thirdPartyView } from '../thirdparty/limits.js';
import {
  cacheLifetime,
  InvalidMetadataDocument,
  isMetadataDocumentUrl,
  type MetadataDocument,
  parseMetadataDocument,
} from './document.js';
import {
  DEFAULT_FETCH_POLICY,
  type FetchPolicy,
  fetchMetadataDocument,
  MetadataFetchError,
} from './fetch.js';

/** Bounded: beyond this many distinct documents the cache starts over rather than growing. */
const MAX_ENTRIES = 1000;

export interface ResolverDeps {
  settings: Pick<ThirdPartyConfig, 'cimdAllowedHosts' | 'cimdAllowLoopback'> & ThirdPartySettings;
  now: () => number;
  /** Tests: a CA for a self-signed document server, shorter deadlines. */
  policy?: Partial<FetchPolicy>;
  /** Told about every failed resolution (logged with its private reason, never sent). */
  onFailure?: (clientId: string, reason: string) => void;
}

/**
 * Client ID Metadata Documents as client records (docs/mcp.md). The cache is per process: the
 * documents are public and small, a shared cache would need Redis (optional in Tessera), and a
 * process trusts only a document it fetched and validated itself, so no poisoned shared entry can
 * spread. Concurrent requests for one URL share one fetch. Failures are not cached.
 */
export class MetadataDocumentResolver {
  private readonly cache = new Map<string, { doc: MetadataDocument; until: number }>();
  private readonly inflight = new Map<string, Promise<MetadataDocument>>();
  private readonly policy: FetchPolicy;

  constructor(private readonly deps: ResolverDeps) {
    this.policy = {
      ...DEFAULT_FETCH_POLICY,
      allowedHosts: deps.settings.cimdAllowedHosts,
      allowLoopback: deps.settings.cimdAllowLoopback,
      ...deps.policy,
    };
  }

  /** The client the document describes, with the third-party limits; invalid_client when unusable. */
  async client(clientId: string): Promise<ClientRecord> {
    const doc = await this.document(clientId);
    const record: ClientRecord = {
      id: doc.clientId,
      name: doc.clientName,
      kind: 'metadata_document',
      secretHash: null,
      dpopBoundAccessTokens: doc.dpopBoundAccessTokens,
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: doc.scope ?? this.deps.settings.scopes,
      audiences: [],
      audienceIsDefault: false,
      ...THIRD_PARTY_FIXED,
      redirectUris: doc.redirectUris,
      disabledAt: null,
      createdAt: new Date(0),
    };
    return thirdPartyView(record, this.deps.settings);
  }

  private async document(clientId: string): Promise<MetadataDocument> {
    const hit = this.cache.get(clientId);
    if (hit && hit.until > this.deps.now()) return hit.doc;
    const running = this.inflight.get(clientId);
    if (running) return running;
    const fetching = this.fetch(clientId).finally(() => this.inflight.delete(clientId));
    this.inflight.set(clientId, fetching);
    return fetching;
  }

  private async fetch(clientId: string): Promise<MetadataDocument> {
    try {
      if (!isMetadataDocumentUrl(clientId))
        throw new InvalidMetadataDocument('the client_id is not an https URL with a path');
      const fetched = await fetchMetadataDocument(new URL(clientId), this.policy);
      const doc = parseMetadataDocument(clientId, fetched);
      if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
      this.cache.set(clientId, { doc, until: this.deps.now() + cacheLifetime(fetched) * 1000 });
      return doc;
    } catch (err) {
      if (!(err instanceof MetadataFetchError || err instanceof InvalidMetadataDocument)) throw err;
      const reason = err instanceof MetadataFetchError ? err.reason : 'invalid';
      this.deps.onFailure?.(clientId, reason);
      throw new OAuthError('invalid_client', err.message, { detail: `client metadata document: ${reason}` });
    }
  }
}
