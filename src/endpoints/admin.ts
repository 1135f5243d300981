import type { Context } from 'koa';
import type { z } from 'zod';
import { tokenActor } from '../accounts/admin_policy.js';
import type { ClientAccounts } from '../accounts/clients.js';
import { isStorableTime, LIST_PAGE_MAX } from '../accounts/page.js';
import { AccountError, isUuid, type UserAccounts } from '../accounts/users.js';
import { AUDIT_PAGE_MAX, type AuditTrail, decodeCursor, describeAuditEvent } from '../audit/trail.js';
import { OAuthError } from '../errors.js';
import { requestStamp } from '../facts/stamp.js';
import { ADMIN_SCOPE } from '../grants/scope.js';
import { bearerClaims } from '../http/bearer.js';
import { jsonDocument, queryFields } from '../http/input.js';
import { describeSession, sessionViews } from '../sessions/views.js';
import {
  AUDIT_EVENT_TYPES,
  type AuditEventType,
  type LoginSessionStore,
  type RefreshTokenStore,
  type UserStore,
} from '../stores/types.js';
import { type AdminBody, adminBodies, firstIssue } from './admin_schemas.js';

/**
 * The admin API for clients, users, sessions and the audit trail (docs/admin.md). Each export is
 * one named step of the route table; scope checks sit in front of them there.
 */
export interface AdminDeps {
  clientAccounts: Pick<ClientAccounts, 'create' | 'list' | 'get' | 'update' | 'disable' | 'rotateSecret'>;
  userAccounts: Pick<UserAccounts, 'create' | 'list' | 'get' | 'resolve' | 'disable' | 'setPassword'>;
  /** Sessions end on their store, which audits, denylists and publishes (docs/sessions.md). */
  refreshTokens: Pick<RefreshTokenStore, 'listLiveFamilies' | 'revokeUserSessions' | 'endSession'>;
  loginSessionStore: Pick<LoginSessionStore, 'listLive'>;
  users: Pick<UserStore, 'findById'>;
  audit: Pick<AuditTrail, 'list'>;
  now: () => number;
}

/** 422 naming the field (RFC 9110 §15.5.21): the request was understood but a value is wrong. */
const invalidField = (field: string, message: string) =>
  new OAuthError('invalid_request', `"${field}": ${message}`, { status: 422 });

/** Account-layer refusals as the admin API answers them. */
function accountError(err: unknown): unknown {
  if (!(err instanceof AccountError)) return err;
  if (err.code === 'not_found') return new OAuthError('not_found', err.message);
  if (err.code === 'exists') return new OAuthError('invalid_request', err.message, { status: 409 });
  // RFC 6750 §3.1: the token lacks the privilege this change needs (docs/admin.md).
  if (err.code === 'forbidden')
    return new OAuthError('insufficient_scope', err.message, {
      headers: {
        'WWW-Authenticate': `Bearer realm="tessera", error="insufficient_scope", scope="${ADMIN_SCOPE}"`,
      },
    });
  return invalidField(err.field ?? 'body', err.message);
}

/** Runs a step and translates account errors; every admin change goes through here. */
async function account<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw accountError(err);
  }
}

/** The acting admin client and this request: the audit stamp of every change. */
const adminStamp = (ctx: Context) => requestStamp(ctx, bearerClaims(ctx).client_id);
/** The same, with the privilege its token holds, for changes the admin policy decides on. */
const adminActor = (ctx: Context) => tokenActor(adminStamp(ctx), bearerClaims(ctx).scope ?? '');

/** The route's JSON body (http/input.ts readJsonBody), checked by its schema (admin_schemas.ts). */
function jsonBody<K extends AdminBody>(ctx: Context, route: K): z.infer<(typeof adminBodies)[K]> {
  // reportInput: zod 4 leaves the offending value out of an issue unless asked, and the 422 names it.
  const parsed = adminBodies[route].safeParse(jsonDocument(ctx), { reportInput: true });
  if (!parsed.success) throw invalidField(...firstIssue(parsed.error));
  return parsed.data as z.infer<(typeof adminBodies)[K]>;
}

/** A query parameter given once (a repeated one is refused, as for OAuth parameters). */
function queryValue(ctx: Context, name: string): string | undefined {
  const query = queryFields(ctx);
  if (query.repeated.has(name)) throw invalidField(name, 'is repeated');
  return query.values.get(name);
}

function queryLimit(ctx: Context, max: number): number | undefined {
  const raw = queryValue(ctx, 'limit');
  if (raw === undefined) return undefined;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw invalidField('limit', `must be an integer from 1 to ${max}`);
  }
  return Number(raw);
}

function queryTime(ctx: Context, name: string): Date | undefined {
  const raw = queryValue(ctx, name);
  if (raw === undefined) return undefined;
  // RFC 3339 date-time (with an offset), as every timestamp this API returns.
  const at = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(raw)
    ? new Date(raw)
    : undefined;
  if (!at || !isStorableTime(at))
    throw invalidField(name, 'must be an RFC 3339 date-time, years 0001 to 9999');
  return at;
}

const listPage = (ctx: Context) => ({
  limit: queryLimit(ctx, LIST_PAGE_MAX),
  cursor: queryValue(ctx, 'cursor'),
});

const param = (ctx: Context, name: string) => String(ctx.params[name] ?? '');

// --- clients --------------------------------------------------------------------------------

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

export function adminClientSteps(deps: AdminDeps) {
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

// --- users and sessions ---------------------------------------------------------------------

/** Users are addressed by id in the API; anything that is not a UUID is simply not found. */
const userRef = (ctx: Context) => ({ id: param(ctx, 'id') });

/** The user of a sessions path, read straight from the store (a non-UUID never reaches it). */
async function sessionsUser(deps: AdminDeps, ctx: Context) {
  const id = param(ctx, 'id');
  const user = isUuid(id) ? await deps.users.findById(id) : undefined;
  if (!user) throw new OAuthError('not_found', 'no user with this id');
  return user;
}

export function adminUserSteps(deps: AdminDeps) {
  return {
    async listUsers(ctx: Context) {
      ctx.body = await account(() => deps.userAccounts.list(listPage(ctx)));
    },

    async createUser(ctx: Context) {
      const { username, password, roles = [] } = jsonBody(ctx, 'createUser');
      const created = await account(() =>
        deps.userAccounts.create(username, password, roles, adminStamp(ctx)),
      );
      ctx.status = 201;
      ctx.set('Location', `/admin/users/${created.id}`);
      ctx.body = await deps.userAccounts.get({ id: created.id });
    },

    async getUser(ctx: Context) {
      ctx.body = await account(() => deps.userAccounts.get(userRef(ctx)));
    },

    async disableUser(ctx: Context) {
      await account(() => deps.userAccounts.disable(userRef(ctx), adminStamp(ctx)));
      ctx.body = await deps.userAccounts.get(userRef(ctx));
    },

    async setUserPassword(ctx: Context) {
      const { password } = jsonBody(ctx, 'setUserPassword');
      await account(() => deps.userAccounts.setPassword(userRef(ctx), password, adminStamp(ctx)));
      ctx.status = 204;
    },

    /** Both kinds, newest first: refresh families and login sessions of /authorize. */
    async listUserSessions(ctx: Context) {
      const user = await sessionsUser(deps, ctx);
      const now = new Date(deps.now());
      const [families, logins] = await Promise.all([
        deps.refreshTokens.listLiveFamilies(user.id, now),
        deps.loginSessionStore.listLive(user.id, now),
      ]);
      ctx.body = { sessions: sessionViews(families, logins).map(describeSession) };
    },

    /** One transaction: every family, login session of /authorize and pending code of the user. */
    async endUserSessions(ctx: Context) {
      const user = await sessionsUser(deps, ctx);
      const ending = { reason: 'admin_revoked', audit: adminStamp(ctx) };
      const ended = await deps.refreshTokens.revokeUserSessions(user.id, ending);
      // Both kinds count: refresh families and login sessions of /authorize.
      ctx.body = { user_id: user.id, sessions_ended: ended.familyIds.length + ended.loginSessionIds.length };
    },

    /** Ends one session; its `sid` is denylisted at once, so its access tokens stop everywhere. */
    async endOneSession(ctx: Context) {
      const sid = param(ctx, 'sid');
      const ending = { reason: 'admin_revoked', audit: adminStamp(ctx) };
      const found = isUuid(sid) && (await deps.refreshTokens.endSession(sid, ending)) !== undefined;
      if (!found) throw new OAuthError('not_found', 'no session with this id');
      ctx.status = 204;
    },
  };
}

// --- audit ----------------------------------------------------------------------------------

export function adminAuditSteps(deps: AdminDeps) {
  return {
    /** Newest first; `next_cursor` pages back in time. */
    async listAuditEvents(ctx: Context) {
      const type = queryValue(ctx, 'type');
      if (type !== undefined && !AUDIT_EVENT_TYPES.includes(type as AuditEventType)) {
        throw invalidField('type', 'unknown event type');
      }
      const cursor = queryValue(ctx, 'cursor');
      const beforeId = cursor === undefined ? undefined : decodeCursor(cursor);
      if (cursor !== undefined && beforeId === undefined) throw invalidField('cursor', 'not a valid cursor');
      const page = await deps.audit.list({
        type: type as AuditEventType | undefined,
        username: queryValue(ctx, 'username'),
        clientId: queryValue(ctx, 'client_id'),
        since: queryTime(ctx, 'since'),
        until: queryTime(ctx, 'until'),
        limit: queryLimit(ctx, AUDIT_PAGE_MAX),
        beforeId,
      });
      ctx.body = {
        events: page.events.map(describeAuditEvent),
        ...(page.nextCursor ? { next_cursor: page.nextCursor } : {}),
      };
    },
  };
}
