import { randomBytes } from 'node:crypto';
import type { ConsentStore } from '../consent/store.js';
import { OAuthError } from '../errors.js';
import type { FactSink } from '../facts/publisher.js';
import type { AuditStamp, ClientRecord, ClientStore } from '../stores/types.js';
import { THIRD_PARTY_FIXED } from '../thirdparty/limits.js';
import { randomToken, secretMatches, sha256 } from '../tokens/secrets.js';
import { type ClientMetadata, parseClientMetadata } from './metadata.js';
import type { RegistrationStore } from './store.js';

export interface RegistrationDeps {
  clients: Pick<ClientStore, 'create' | 'findById' | 'update' | 'disable'>;
  store: RegistrationStore;
  consents: Pick<ConsentStore, 'revokeClient'>;
  /** Every registration change is a fact, written once by the facts writer. */
  facts: FactSink;
  /** Ends every session of the client (RFC 7592 §2.3: a deleted client's grants go with it). */
  endSessions: (clientId: string, reason: string, stamp: AuditStamp) => Promise<void>;
  issuer: string;
  /** THIRD_PARTY_SCOPES: the most a registration may ask for. */
  scopes: readonly string[];
  now: () => number;
}

/**
 * RFC 6750 §3.1 for the registration access token (RFC 7592 §3): one answer for a wrong token,
 * an unknown client and a deleted one, so the endpoint tells nobody which client ids exist.
 */
const invalidToken = (detail: string) =>
  new OAuthError('invalid_token', 'the registration access token is invalid', {
    detail,
    headers: { 'WWW-Authenticate': 'Bearer realm="tessera", error="invalid_token"' },
  });

/**
 * Dynamic client registration (RFC 7591) and its management protocol (RFC 7592). Every client it
 * makes is third-party (docs/mcp.md); its registration access token is 256 random bits, shown in
 * the registration answer only and stored as a SHA-256 digest.
 */
export class Registrations {
  constructor(private readonly deps: RegistrationDeps) {}

  private uri = (clientId: string) =>
    `${this.deps.issuer.replace(/\/$/, '')}/register/${encodeURIComponent(clientId)}`;

  /** RFC 7591 §3.2.1: the client information response. */
  private answer(client: ClientRecord, metadata: ClientMetadata, extra: Record<string, unknown> = {}) {
    return {
      client_id: client.id,
      client_id_issued_at: Math.floor(client.createdAt.getTime() / 1000),
      ...extra,
      registration_client_uri: this.uri(client.id),
      ...metadata,
    };
  }

  async register(body: Record<string, unknown>, stamp: AuditStamp) {
    const metadata = parseClientMetadata(body, this.deps.scopes);
    const confidential = metadata.token_endpoint_auth_method !== 'none';
    const secret = confidential ? randomToken(32) : undefined;
    const accessToken = randomToken(32);
    const client = await this.deps.clients.create({
      // 128 random bits, as for clients an admin creates.
      id: `c_${randomBytes(16).toString('base64url')}`,
      kind: 'dynamic',
      name: metadata.client_name,
      secretHash: secret === undefined ? null : sha256(secret),
      grantTypes: metadata.grant_types,
      scopes: metadata.scope.split(' ').filter(Boolean),
      audiences: [this.deps.issuer],
      audienceIsDefault: true,
      ...THIRD_PARTY_FIXED,
      redirectUris: metadata.redirect_uris,
      dpopBoundAccessTokens: metadata.dpop_bound_access_tokens ?? false,
    });
    const at = new Date(this.deps.now());
    try {
      await this.deps.store.create({
        clientId: client.id,
        accessTokenHash: sha256(accessToken),
        metadata: { ...metadata },
        createdAt: at,
        updatedAt: at,
      });
    } catch (err) {
      // A client nobody could manage must not stay usable.
      await this.deps.clients.disable(client.id, at).catch(() => undefined);
      throw err;
    }
    await this.deps.facts.record(stamp, [
      {
        type: 'client.registered',
        clientId: client.id,
        applicationType: metadata.application_type,
        authMethod: metadata.token_endpoint_auth_method,
        grantTypes: metadata.grant_types,
        redirectHosts: metadata.redirect_uris.map(hostOf),
        scope: metadata.scope,
      },
    ]);
    return this.answer(client, metadata, {
      ...(secret === undefined ? {} : { client_secret: secret, client_secret_expires_at: 0 }),
      registration_access_token: accessToken,
    });
  }

  /** The client and its registration when `token` is its registration access token. */
  private async authorize(clientId: string, token: string | undefined) {
    if (token === undefined) throw invalidToken('no registration access token');
    const registration = await this.deps.store.find(clientId);
    // Compared even when the client is unknown, so both cost the same.
    const ok = secretMatches(token, registration?.accessTokenHash ?? sha256('tessera-no-registration'));
    if (!registration || !ok) throw invalidToken(registration ? 'wrong token' : 'unknown client');
    const client = await this.deps.clients.findById(clientId);
    if (!client || client.disabledAt) throw invalidToken('client deleted or disabled');
    return { client, metadata: registration.metadata as unknown as ClientMetadata };
  }

  /** RFC 7592 §2.1 */
  async read(clientId: string, token: string | undefined) {
    const { client, metadata } = await this.authorize(clientId, token);
    return this.answer(client, metadata);
  }

  /** RFC 7592 §2.2: the body replaces the metadata; the auth method is fixed for the client's life. */
  async update(
    clientId: string,
    token: string | undefined,
    body: Record<string, unknown>,
    stamp: AuditStamp,
  ) {
    const { client, metadata: current } = await this.authorize(clientId, token);
    if (body.client_id !== clientId)
      throw new OAuthError(
        'invalid_client_metadata',
        'client_id must be the client identifier being updated',
      );
    if (body.client_secret !== undefined) {
      const matches =
        typeof body.client_secret === 'string' &&
        client.secretHash !== null &&
        secretMatches(body.client_secret, client.secretHash);
      if (!matches) throw new OAuthError('invalid_client_metadata', 'client_secret does not match');
    }
    const { client_id: _id, client_secret: _secret, ...rest } = body;
    const metadata = parseClientMetadata(
      { token_endpoint_auth_method: current.token_endpoint_auth_method, ...rest },
      this.deps.scopes,
    );
    if (metadata.token_endpoint_auth_method !== current.token_endpoint_auth_method)
      throw new OAuthError(
        'invalid_client_metadata',
        'token_endpoint_auth_method cannot change; register a new client',
      );
    const updated = await this.deps.clients.update(clientId, {
      name: metadata.client_name,
      grantTypes: metadata.grant_types,
      scopes: metadata.scope.split(' ').filter(Boolean),
      redirectUris: metadata.redirect_uris,
    });
    if (!updated) throw invalidToken('client vanished');
    await this.deps.store.update(clientId, { ...metadata }, new Date(this.deps.now()));
    await this.deps.facts.record(stamp, [
      {
        type: 'client.registration_updated',
        clientId,
        redirectHosts: metadata.redirect_uris.map(hostOf),
        scope: metadata.scope,
      },
    ]);
    return this.answer(updated, metadata);
  }

  /**
   * RFC 7592 §2.3: the client id, secret and registration token stop working at once; its
   * sessions and the users' consents to it end too. The row stays disabled for the audit trail.
   */
  async delete(clientId: string, token: string | undefined, stamp: AuditStamp) {
    await this.authorize(clientId, token);
    const at = new Date(this.deps.now());
    await this.deps.clients.disable(clientId, at);
    await this.deps.store.delete(clientId);
    await this.deps.consents.revokeClient(clientId);
    await this.deps.facts.record(stamp, [{ type: 'client.registration_deleted', clientId }]);
    await this.deps.endSessions(clientId, 'client_deleted', stamp);
  }
}

const hostOf = (uri: string) => {
  const url = new URL(uri);
  return url.host === '' ? url.protocol : url.host;
};
