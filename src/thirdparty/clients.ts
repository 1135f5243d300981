import { isMetadataDocumentUrl } from '../cimd/document.js';
import type { MetadataDocumentResolver } from '../cimd/resolver.js';
import type { CachedClientStore } from '../stores/cached_clients.js';
import type { ClientChanges, ClientRecord, ClientStore, NewClient, PageQuery } from '../stores/types.js';
import { isThirdParty, type ThirdPartySettings, thirdPartyView } from './limits.js';

/**
 * The client table as every route reads it: registered third-party clients carry the limits of
 * docs/mcp.md on every read, and (with CLIENT_ID_METADATA_DOCUMENTS=on) an https client_id URL
 * is resolved from its metadata document. One place, so /authorize, /token, /revoke and token
 * verification all see the same client.
 */
export class ThirdPartyClients implements ClientStore {
  constructor(
    private readonly inner: CachedClientStore,
    private readonly settings: ThirdPartySettings,
    /** Undefined while metadata documents are off. */
    private readonly documents: MetadataDocumentResolver | undefined,
  ) {}

  private view = (c: ClientRecord): ClientRecord => (isThirdParty(c) ? thirdPartyView(c, this.settings) : c);

  async findById(id: string): Promise<ClientRecord | undefined> {
    if (this.documents && isMetadataDocumentUrl(id)) {
      const client = await this.documents.client(id);
      const row = (await this.inner.findById(id)) ?? (await this.placeholder(client));
      // An admin may disable a metadata-document client like any other (docs/mcp.md).
      return row.disabledAt ? { ...client, disabledAt: row.disabledAt } : client;
    }
    const client = await this.inner.findById(id);
    return client && this.view(client);
  }

  /**
   * The row a metadata-document client's codes, sessions and audit events point to. It holds no
   * grants, scopes or redirect URIs (the document does, at each use), so a release that does not
   * know metadata documents can do nothing with it.
   */
  private async placeholder(client: ClientRecord): Promise<ClientRecord> {
    try {
      return await this.inner.create({
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
      const row = await this.inner.findById(client.id);
      if (row) return row;
      throw err;
    }
  }

  /**
   * Token verification's "is the client still enabled": a metadata-document client's tokens live
   * while documents are on and its row is not disabled (turning documents off stops them at once).
   */
  async isActive(id: string): Promise<boolean> {
    if (isMetadataDocumentUrl(id) && this.documents === undefined) return false;
    return this.inner.isActive(id);
  }

  create(client: NewClient): Promise<ClientRecord> {
    return this.inner.create(client).then(this.view);
  }

  async list(): Promise<ClientRecord[]> {
    return (await this.inner.list()).map(this.view);
  }

  async page(query: PageQuery): Promise<ClientRecord[]> {
    return (await this.inner.page(query)).map(this.view);
  }

  disable(id: string, at: Date): Promise<boolean> {
    return this.inner.disable(id, at);
  }

  async update(id: string, changes: ClientChanges): Promise<ClientRecord | undefined> {
    const client = await this.inner.update(id, changes);
    return client && this.view(client);
  }

  setSecretHash(id: string, secretHash: string): Promise<boolean> {
    return this.inner.setSecretHash(id, secretHash);
  }

  count(): Promise<number> {
    return this.inner.count();
  }
}
