import { randomBytes } from 'node:crypto';
import { OAuthError } from '../errors.js';
import type { FactSink } from '../facts/publisher.js';
import { isAdminScope, parseScope } from '../grants/scope.js';
import {
  type AuditStamp,
  type ClientChanges,
  type ClientRecord,
  type ClientStore,
  GRANT_TYPES,
  type GrantType,
} from '../stores/types.js';
import { randomToken, sha256 } from '../tokens/secrets.js';
import { type AdminActor, type ClientChange, clientChangeRefusal, SYSTEM_ACTOR } from './admin_policy.js';
import { browserRegistration, RegistrationError } from './browser_registration.js';
import { type ListPage, loadPage } from './page.js';
import { AccountError } from './users.js';

export interface NewClientInput {
  name: string;
  grantTypes?: GrantType[];
  scopes?: string[];
  audiences?: string[];
  isPublic?: boolean;
  canIntrospect?: boolean;
  isAdmin?: boolean;
  /** Exact redirect URIs of the authorization code flow (RFC 6749 §3.1.2). */
  redirectUris?: string[];
  /** Browser origins allowed to call /token, /revoke and /logout with credentials. */
  allowedOrigins?: string[];
  /** Cookie mode: the refresh token only in an HttpOnly cookie (docs/browser-apps.md). */
  refreshCookie?: boolean;
  /** RFC 9449 §5.2: every token request must carry a DPoP proof (docs/dpop.md). */
  dpopBoundAccessTokens?: boolean;
}

/** What PATCH /admin/clients/{id} may change; absent fields stay as they are. */
export interface ClientUpdateInput {
  name?: string;
  grantTypes?: GrantType[];
  scopes?: string[];
  audiences?: string[];
  redirectUris?: string[];
  allowedOrigins?: string[];
  refreshCookie?: boolean;
  dpopBoundAccessTokens?: boolean;
}

/** The admin API field a browser-registration refusal is about (its message names it in words). */
const registrationField = (message: string) =>
  message.includes('origin')
    ? 'allowed_origins'
    : message.includes('cookie')
      ? 'refresh_cookie'
      : 'redirect_uris';

/** Browser fields checked together with the grants (docs/browser-apps.md), as a validation error. */
function checkBrowser(input: Parameters<typeof browserRegistration>[0]) {
  try {
    return browserRegistration(input);
  } catch (err) {
    if (err instanceof RegistrationError)
      throw new AccountError('invalid', err.message, registrationField(err.message));
    throw err;
  }
}

/** A client's default grants (docs/cli.md, `clients create`). */
export const DEFAULT_GRANTS: GrantType[] = ['password', 'refresh_token'];
/** Least privilege: a client asks for more scopes only when created with them. */
export const DEFAULT_SCOPES = ['read'];

/** The public view of a client (never the secret or its hash). */
export function describeClient(c: ClientRecord) {
  return {
    client_id: c.id,
    name: c.name,
    public: c.secretHash === null,
    grant_types: c.grantTypes,
    scopes: c.scopes,
    audiences: c.audiences,
    default_audience: c.audienceIsDefault,
    introspect: c.canIntrospect,
    admin: c.isAdmin,
    redirect_uris: c.redirectUris,
    allowed_origins: c.allowedOrigins,
    refresh_cookie: c.refreshCookie,
    dpop_bound_access_tokens: c.dpopBoundAccessTokens,
    disabled: c.disabledAt !== null,
    created_at: c.createdAt.toISOString(),
  };
}

function checkName(raw: string): string {
  const name = raw.trim();
  if (name === '' || name.length > 200)
    throw new AccountError('invalid', 'name must be 1-200 characters', 'name');
  return name;
}

function checkGrants(grants: GrantType[], isPublic: boolean): GrantType[] {
  const grantTypes = [...new Set(grants)];
  const unknown = grantTypes.find((g) => !GRANT_TYPES.includes(g));
  if (unknown) throw new AccountError('invalid', `unknown grant "${unknown}"`, 'grant_types');
  if (isPublic && grantTypes.includes('client_credentials'))
    throw new AccountError('invalid', 'a public client cannot use client_credentials', 'grant_types');
  return grantTypes;
}

function checkScopes(scopes: string[]): string[] {
  let parsed: string[];
  try {
    parsed = parseScope(scopes.join(' '));
  } catch (err) {
    if (err instanceof OAuthError)
      throw new AccountError('invalid', 'scopes must be RFC 6749 scope tokens', 'scopes');
    throw err;
  }
  // The admin scopes come only with the admin flag, through client_credentials (docs/admin.md).
  if (parsed.some(isAdminScope))
    throw new AccountError('invalid', 'use --admin instead of the admin scopes', 'scopes');
  return parsed;
}

function checkAudiences(audiences: string[]): string[] {
  for (const a of audiences) {
    // RFC 8707 §2: an absolute URI without a fragment.
    if (!URL.canParse(a) || a.includes('#'))
      throw new AccountError('invalid', `audience "${a}" is not an absolute URI`, 'audiences');
  }
  return [...new Set(audiences)];
}

/**
 * Client administration shared by the CLI, the embedded seed and the admin API. Every change is an
 * audit event; a secret is returned exactly once (create, rotate-secret) and stored as a digest.
 */
export class ClientAccounts {
  constructor(
    private readonly deps: {
      clients: ClientStore;
      issuer: string;
      now: () => number;
      /** Every change and refusal is a fact (src/facts/facts.ts), written once by the facts writer. */
      facts: FactSink;
      /** Ends every session issued to the client (wired by the refresh-session module). */
      endSessions?: (clientId: string, reason: string, stamp: AuditStamp) => Promise<void>;
    },
  ) {}

  async create(
    input: NewClientInput,
    actor: AdminActor = SYSTEM_ACTOR,
  ): Promise<{ client_id: string; client_secret?: string }> {
    await this.authorize(actor, 'create', { isAdmin: input.isAdmin ?? false });
    const stamp = stampOf(actor);
    const name = checkName(input.name);
    const grantTypes = checkGrants(input.grantTypes ?? DEFAULT_GRANTS, input.isPublic ?? false);
    if (input.isPublic && (input.isAdmin || input.canIntrospect))
      throw new AccountError('invalid', 'a public client cannot be --admin or --introspect', 'public');
    // The admin scopes come only through client_credentials: an admin flag without that grant
    // could never be used, and would only wait for a later grant change to become live.
    if (input.isAdmin && !grantTypes.includes('client_credentials'))
      throw new AccountError('invalid', 'an admin client needs the client_credentials grant', 'admin');
    const scopes = input.scopes && input.scopes.length > 0 ? checkScopes(input.scopes) : DEFAULT_SCOPES;
    // No audience: the ISSUER, as configured wherever the token is minted (stored here only for
    // the previous release, which reads the column as it is).
    const audienceIsDefault = !input.audiences || input.audiences.length === 0;
    const audiences = audienceIsDefault ? [this.deps.issuer] : checkAudiences(input.audiences ?? []);
    const browser = checkBrowser({ ...input, grantTypes });
    const secret = input.isPublic ? undefined : randomToken(32);
    const client = await this.deps.clients.create({
      // 128 random bits: unguessable ids add a layer even though ids are not secrets.
      id: `c_${randomBytes(16).toString('base64url')}`,
      name,
      secretHash: secret === undefined ? null : sha256(secret),
      grantTypes,
      scopes,
      audiences,
      audienceIsDefault,
      canIntrospect: input.canIntrospect ?? false,
      isAdmin: input.isAdmin ?? false,
      accessTokenTtl: null,
      refreshTokenIdleTtl: null,
      refreshTokenMaxAge: null,
      refreshReuseLeeway: null,
      ...browser,
      dpopBoundAccessTokens: input.dpopBoundAccessTokens ?? false,
    });
    await this.deps.facts.record(stamp, [
      {
        type: 'client.created',
        clientId: client.id,
        grantTypes,
        scopes,
        isPublic: secret === undefined,
        isAdmin: client.isAdmin,
        canIntrospect: client.canIntrospect,
        dpopBoundAccessTokens: client.dpopBoundAccessTokens,
      },
    ]);
    return secret === undefined ? { client_id: client.id } : { client_id: client.id, client_secret: secret };
  }

  /** Every client, oldest first (the CLI). */
  async listAll() {
    return (await this.deps.clients.list()).map(describeClient);
  }

  /** Oldest first, `limit` per page; `cursor` is the `next_cursor` of the previous page. */
  async list(page: ListPage = {}) {
    const { items, nextCursor } = await loadPage(page, (q) => this.deps.clients.page(q));
    return { clients: items.map(describeClient), ...(nextCursor ? { next_cursor: nextCursor } : {}) };
  }

  async get(clientId: string) {
    return describeClient(await this.find(clientId));
  }

  /**
   * Changes name, grants, scopes or audiences. Tokens already issued keep what they were issued
   * with until they expire; new grants and refreshes follow the new record.
   */
  async update(clientId: string, input: ClientUpdateInput, actor: AdminActor = SYSTEM_ACTOR) {
    const current = await this.find(clientId);
    await this.authorize(actor, 'update', current);
    const stamp = stampOf(actor);
    const changes: ClientChanges = {};
    if (input.name !== undefined) changes.name = checkName(input.name);
    if (input.grantTypes !== undefined) {
      changes.grantTypes = checkGrants(input.grantTypes, current.secretHash === null);
      if (current.isAdmin && !changes.grantTypes.includes('client_credentials'))
        throw new AccountError(
          'invalid',
          'an admin client needs the client_credentials grant',
          'grant_types',
        );
    }
    if (input.scopes !== undefined) {
      if (input.scopes.length === 0) throw new AccountError('invalid', 'scopes must not be empty', 'scopes');
      changes.scopes = checkScopes(input.scopes);
    }
    if (input.audiences !== undefined) {
      // An empty list means "the ISSUER", as at creation (docs/tokens.md: audience).
      changes.audiences = input.audiences.length > 0 ? checkAudiences(input.audiences) : [this.deps.issuer];
    }
    const browserChange =
      input.grantTypes !== undefined ||
      input.redirectUris !== undefined ||
      input.allowedOrigins !== undefined ||
      input.refreshCookie !== undefined;
    if (browserChange) {
      // The browser fields only make sense with the grants: checked together, on the result.
      const next = checkBrowser({
        grantTypes: changes.grantTypes ?? current.grantTypes,
        redirectUris: input.redirectUris ?? current.redirectUris,
        allowedOrigins: input.allowedOrigins ?? current.allowedOrigins,
        refreshCookie: input.refreshCookie ?? current.refreshCookie,
      });
      if (input.redirectUris !== undefined) changes.redirectUris = next.redirectUris;
      if (input.allowedOrigins !== undefined) changes.allowedOrigins = next.allowedOrigins;
      if (input.refreshCookie !== undefined) changes.refreshCookie = next.refreshCookie;
    }
    if (input.dpopBoundAccessTokens !== undefined)
      changes.dpopBoundAccessTokens = input.dpopBoundAccessTokens;
    const updated = await this.deps.clients.update(clientId, changes);
    if (!updated) throw new AccountError('not_found', `no client ${clientId}`);
    await this.deps.facts.record(stamp, [
      { type: 'client.updated', clientId, fields: Object.keys(changes).map(fieldName) },
    ]);
    return describeClient(updated);
  }

  /** Disabling ends every session issued to the client; its client_credentials tokens stop too. */
  async disable(clientId: string, actor: AdminActor = SYSTEM_ACTOR) {
    await this.authorize(actor, 'disable', await this.find(clientId));
    const stamp = stampOf(actor);
    const ok = await this.deps.clients.disable(clientId, new Date(this.deps.now()));
    if (!ok) throw new AccountError('not_found', `no client ${clientId}`);
    await this.deps.facts.record(stamp, [{ type: 'client.disabled', clientId }]);
    await this.deps.endSessions?.(clientId, 'client_disabled', stamp);
    return { client_id: clientId, disabled: true };
  }

  /** A new secret, shown once; the old one stops working at once (within the client cache bound). */
  async rotateSecret(clientId: string, actor: AdminActor = SYSTEM_ACTOR) {
    const client = await this.find(clientId);
    await this.authorize(actor, 'rotate_secret', client);
    const stamp = stampOf(actor);
    if (client.secretHash === null)
      throw new AccountError('invalid', 'a public client has no secret to rotate', 'client_id');
    const secret = randomToken(32);
    if (!(await this.deps.clients.setSecretHash(clientId, sha256(secret))))
      throw new AccountError('not_found', `no client ${clientId}`);
    await this.deps.facts.record(stamp, [{ type: 'client.secret_rotated', clientId }]);
    return { client_id: clientId, client_secret: secret };
  }

  /** The admin policy (./admin_policy.ts); a refusal is audited before it is answered. */
  private async authorize(
    actor: AdminActor,
    change: ClientChange,
    target: { isAdmin: boolean; id?: string },
  ) {
    const refusal = clientChangeRefusal(actor, change, target);
    if (refusal === undefined) return;
    await this.deps.facts.record(stampOf(actor), [
      {
        type: 'admin.refused',
        clientId: target.id ?? null,
        action: `client.${change}`,
        reason: 'insufficient_privilege',
      },
    ]);
    throw new AccountError('forbidden', refusal);
  }

  private async find(clientId: string): Promise<ClientRecord> {
    const client = await this.deps.clients.findById(clientId);
    if (!client) throw new AccountError('not_found', `no client ${clientId}`);
    return client;
  }
}

/** The audit stamp of an actor (its privilege is not part of the trail). */
const stampOf = ({ actor, ip, requestId }: AdminActor): AuditStamp => ({ actor, ip, requestId });

/** The JSON name of a changed field, as the admin API spells it. */
const fieldName = (key: string) =>
  ({
    grantTypes: 'grant_types',
    redirectUris: 'redirect_uris',
    allowedOrigins: 'allowed_origins',
    refreshCookie: 'refresh_cookie',
    dpopBoundAccessTokens: 'dpop_bound_access_tokens',
  })[key] ?? key;
