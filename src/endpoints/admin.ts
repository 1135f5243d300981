import type { Context, Next } from 'koa';
import { tokenActor } from '../accounts/admin_policy.js';
import type { ClientAccounts } from '../accounts/clients.js';
import { LIST_PAGE_MAX } from '../accounts/page.js';
import { AccountError, isUuid, type UserAccounts } from '../accounts/users.js';
import { AUDIT_PAGE_MAX, type AuditTrail, decodeCursor, describeAuditEvent } from '../audit/trail.js';
import { OAuthError } from '../errors.js';
import { ADMIN_SCOPE } from '../grants/scope.js';
import { bearerClaims } from '../http/bearer.js';
import { readBody } from '../http/params.js';
import { auditStamp } from '../http/request_log.js';
import type { Sessions } from '../sessions/sessions.js';
import { AUDIT_EVENT_TYPES, type AuditEventType, GRANT_TYPES, type GrantType } from '../stores/types.js';

/**
 * The admin API for clients, users, sessions and the audit trail (docs/admin.md). Each export is
 * one named step of the route table; scope checks sit in front of them there.
 */
export interface AdminDeps {
  clientAccounts: Pick<ClientAccounts, 'create' | 'list' | 'get' | 'update' | 'disable' | 'rotateSecret'>;
  userAccounts: Pick<UserAccounts, 'create' | 'list' | 'get' | 'resolve' | 'disable' | 'setPassword'>;
  sessions: Pick<Sessions, 'listLive' | 'endUserSessions' | 'endById'>;
  audit: Pick<AuditTrail, 'list'>;
}

declare module 'koa' {
  interface DefaultState {
    json?: Record<string, unknown>;
  }
}

type Body = Record<string, unknown>;

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
const adminStamp = (ctx: Context) => auditStamp(ctx, bearerClaims(ctx).client_id);
/** The same, with the privilege its token holds, for changes the admin policy decides on. */
const adminActor = (ctx: Context) => tokenActor(adminStamp(ctx), bearerClaims(ctx).scope ?? '');

/** JSON bodies only (object at the top), under the same size limit as every other endpoint. */
export async function parseJsonBody(ctx: Context, next: Next): Promise<void> {
  if (!ctx.request.is('application/json')) {
    throw new OAuthError('invalid_request', 'use application/json', { status: 415 });
  }
  await readBody(ctx, async () => {});
  const body = ctx.request.body as unknown;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new OAuthError('invalid_request', 'the JSON body must be an object');
  }
  ctx.state.json = body as Body;
  return next();
}

function jsonBody(ctx: Context, allowed: readonly string[]): Body {
  const body = ctx.state.json ?? {};
  const unknown = Object.keys(body).find((k) => !allowed.includes(k));
  if (unknown !== undefined) throw invalidField(unknown, 'unknown field');
  return body;
}

function optionalString(body: Body, field: string): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidField(field, 'must be a string');
  return v;
}

function requiredString(body: Body, field: string): string {
  const v = optionalString(body, field);
  if (v === undefined || v === '') throw invalidField(field, 'is required');
  return v;
}

function optionalStrings(body: Body, field: string): string[] | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string') || v.length > 100) {
    throw invalidField(field, 'must be an array of at most 100 strings');
  }
  return v as string[];
}

function optionalBoolean(body: Body, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || typeof v === 'boolean') return v;
  throw invalidField(field, 'must be a boolean');
}

function grantTypes(body: Body): GrantType[] | undefined {
  const grants = optionalStrings(body, 'grant_types');
  const unknown = grants?.find((g) => !GRANT_TYPES.includes(g as GrantType));
  if (unknown !== undefined) throw invalidField('grant_types', `unknown grant "${unknown}"`);
  return grants as GrantType[] | undefined;
}

/** Redirect URIs, browser origins and cookie mode (docs/browser-apps.md). */
const browserFields = (body: Body) => ({
  redirectUris: optionalStrings(body, 'redirect_uris'),
  allowedOrigins: optionalStrings(body, 'allowed_origins'),
  refreshCookie: optionalBoolean(body, 'refresh_cookie'),
});

/** A query parameter given once (a repeated one is refused, as for OAuth parameters). */
function queryValue(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw invalidField(name, 'is repeated');
  return v === undefined || v === '' ? undefined : v;
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
  if (!at || Number.isNaN(at.getTime())) throw invalidField(name, 'must be an RFC 3339 date-time');
  return at;
}

const listPage = (ctx: Context) => ({
  limit: queryLimit(ctx, LIST_PAGE_MAX),
  cursor: queryValue(ctx, 'cursor'),
});

const param = (ctx: Context, name: string) => String(ctx.params[name] ?? '');

// --- clients --------------------------------------------------------------------------------

/** What PATCH may change; create also takes the kind of client, which is fixed for its life. */
const EDITABLE_CLIENT_FIELDS = [
  'name',
  'grant_types',
  'scopes',
  'audiences',
  'redirect_uris',
  'allowed_origins',
  'refresh_cookie',
  'dpop_bound_access_tokens',
];

export function adminClientSteps(deps: AdminDeps) {
  return {
    async listClients(ctx: Context) {
      ctx.body = await account(() => deps.clientAccounts.list(listPage(ctx)));
    },

    /** 201 with the secret, the only answer that ever carries it (besides rotate-secret). */
    async createClient(ctx: Context) {
      const body = jsonBody(ctx, [...EDITABLE_CLIENT_FIELDS, 'public', 'introspect', 'admin']);
      const input = {
        name: requiredString(body, 'name'),
        grantTypes: grantTypes(body),
        scopes: optionalStrings(body, 'scopes'),
        audiences: optionalStrings(body, 'audiences'),
        ...browserFields(body),
        dpopBoundAccessTokens: optionalBoolean(body, 'dpop_bound_access_tokens'),
        isPublic: optionalBoolean(body, 'public'),
        canIntrospect: optionalBoolean(body, 'introspect'),
        isAdmin: optionalBoolean(body, 'admin'),
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
      const body = jsonBody(ctx, EDITABLE_CLIENT_FIELDS);
      const input = {
        name: optionalString(body, 'name'),
        grantTypes: grantTypes(body),
        scopes: optionalStrings(body, 'scopes'),
        audiences: optionalStrings(body, 'audiences'),
        ...browserFields(body),
        dpopBoundAccessTokens: optionalBoolean(body, 'dpop_bound_access_tokens'),
      };
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

export function adminUserSteps(deps: AdminDeps) {
  return {
    async listUsers(ctx: Context) {
      ctx.body = await account(() => deps.userAccounts.list(listPage(ctx)));
    },

    async createUser(ctx: Context) {
      const body = jsonBody(ctx, ['username', 'password', 'roles']);
      const username = requiredString(body, 'username');
      const password = requiredString(body, 'password');
      const roles = optionalStrings(body, 'roles') ?? [];
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
      const password = requiredString(jsonBody(ctx, ['password']), 'password');
      await account(() => deps.userAccounts.setPassword(userRef(ctx), password, adminStamp(ctx)));
      ctx.status = 204;
    },

    async listUserSessions(ctx: Context) {
      const user = await account(() => deps.userAccounts.resolve(userRef(ctx)));
      const sessions = await deps.sessions.listLive(user.id);
      ctx.body = {
        sessions: sessions.map((f) => ({
          session_id: f.id,
          client_id: f.clientId,
          scope: f.scope,
          audience: f.audience,
          created_at: f.createdAt.toISOString(),
          last_used_at: f.lastUsedAt.toISOString(),
          expires_at: f.expiresAt.toISOString(),
        })),
      };
    },

    async endUserSessions(ctx: Context) {
      const user = await account(() => deps.userAccounts.resolve(userRef(ctx)));
      const ended = await deps.sessions.endUserSessions(user.id, 'admin_revoked', adminStamp(ctx));
      ctx.body = { user_id: user.id, sessions_ended: ended.length };
    },

    /** Ends one session; its `sid` is denylisted at once, so its access tokens stop everywhere. */
    async endOneSession(ctx: Context) {
      const sid = param(ctx, 'sid');
      const found = isUuid(sid) && (await deps.sessions.endById(sid, 'admin_revoked', adminStamp(ctx)));
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
