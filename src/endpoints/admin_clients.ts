import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { z } from 'zod';
import {
  type AdminActor,
  type ClientChange,
  clientChangeRefusal,
  SYSTEM_ACTOR,
} from '../accounts/admin_policy.js';
import {
  type ClientUpdateInput,
  checkAudiences,
  checkBrowser,
  checkGrants,
  checkName,
  checkScopes,
  DEFAULT_GRANTS,
  DEFAULT_SCOPES,
  describeClient,
  fieldName,
  type NewClientInput,
} from '../accounts/clients.js';
import { type ListPage, loadPage } from '../accounts/page.js';
import { AccountError } from '../accounts/users.js';
import type { FactSink } from '../facts/publisher.js';
import type { AuditStamp, ClientChanges, ClientRecord, ClientStore } from '../stores/types.js';
import { randomToken, sha256 } from '../tokens/secrets.js';
import { account, adminActor, jsonBody, listPage, param } from './admin_input.js';
import type { adminBodies } from './admin_schemas.js';

/**
 * Client administration (docs/admin.md): the operations the admin API, the CLI and the embedded
 * seed share, on the client table itself (its writes make the hot-path cache forget the client),
 * and the admin API's steps for them. The record's rules are src/accounts/clients.ts.
 */

/**
 * Client administration shared by the CLI, the embedded seed and the admin API. Every change is an
 * audit event; a secret is returned exactly once (create, rotate-secret) and stored as a digest.
 */
export class ClientAccounts {
  constructor(
    private readonly deps: {
      /** The client table (compose.ts `clientTable`), not the hot-path cache. */
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

/** What the steps use of the operations. */
export type ClientAdminOperations = Pick<
  ClientAccounts,
  'create' | 'list' | 'get' | 'update' | 'disable' | 'rotateSecret'
>;

// --- the admin API steps (the route table names them) ---------------------------------------

/** The fields create and PATCH share, as the account layer names them. */
const editableInput = (body: z.infer<typeof adminBodies.updateClient>) => ({
  name: body.name,
  grantTypes: body.grant_types,
  scopes: body.scopes,
  audiences: body.audiences,
  redirectUris: body.redirect_uris,
  allowedOrigins: body.allowed_origins,
  refreshCookie: body.refresh_cookie,
  dpopBoundAccessTokens: body.dpop_bound_access_tokens,
});

export function adminClientSteps(deps: { clientAccounts: ClientAdminOperations }) {
  return {
    async listClients(ctx: Context) {
      ctx.body = await account(() => deps.clientAccounts.list(listPage(ctx)));
    },

    /** 201 with the secret, the only answer that ever carries it (besides rotate-secret). */
    async createClient(ctx: Context) {
      const body = jsonBody(ctx, 'createClient');
      const input = {
        ...editableInput(body),
        name: body.name,
        isPublic: body.public,
        canIntrospect: body.introspect,
        isAdmin: body.admin,
      };
      const created = await account(() => deps.clientAccounts.create(input, adminActor(ctx)));
      ctx.status = 201;
      ctx.set('Location', `/admin/clients/${encodeURIComponent(created.client_id)}`);
      ctx.body = { ...(await deps.clientAccounts.get(created.client_id)), ...created };
    },

    async getClient(ctx: Context) {
      ctx.body = await account(() => deps.clientAccounts.get(param(ctx, 'id')));
    },

    async updateClient(ctx: Context) {
      const input = editableInput(jsonBody(ctx, 'updateClient'));
      ctx.body = await account(() => deps.clientAccounts.update(param(ctx, 'id'), input, adminActor(ctx)));
    },

    async disableClient(ctx: Context) {
      const id = param(ctx, 'id');
      await account(() => deps.clientAccounts.disable(id, adminActor(ctx)));
      ctx.body = await deps.clientAccounts.get(id);
    },

    async rotateClientSecret(ctx: Context) {
      ctx.body = await account(() => deps.clientAccounts.rotateSecret(param(ctx, 'id'), adminActor(ctx)));
    },
  };
}
