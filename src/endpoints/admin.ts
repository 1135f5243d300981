import type { Context } from 'koa';
import { isUuid } from '../accounts/users.js';
import {
  AUDIT_PAGE_MAX,
  auditPage,
  auditPageSize,
  decodeCursor,
  describeAuditEvent,
} from '../audit/trail.js';
import { OAuthError } from '../errors.js';
import { describeSession, sessionViews } from '../sessions/views.js';
import {
  AUDIT_EVENT_TYPES,
  type AuditEventType,
  type AuditStore,
  type LoginSessionStore,
  type RefreshTokenStore,
  type UserStore,
} from '../stores/types.js';
import { adminStamp, invalidField, param, queryLimit, queryTime, queryValue } from './admin_input.js';

/**
 * The admin API for sessions and the audit trail (docs/admin.md; clients and users: admin_clients.ts,
 * admin_users.ts).
 * Each export is one named step of the route table; scope checks sit in front of them there.
 */
export interface AdminDeps {
  /** Sessions end on their store, which audits, denylists and publishes (docs/sessions.md). */
  refreshTokens: Pick<RefreshTokenStore, 'listLiveFamilies' | 'revokeUserSessions' | 'endSession'>;
  loginSessionStore: Pick<LoginSessionStore, 'listLive'>;
  users: Pick<UserStore, 'findById'>;
  /** The audit trail's store, read a page at a time (src/audit/trail.ts paging rules). */
  auditEvents: Pick<AuditStore, 'list'>;
  now: () => number;
}

// --- sessions ---------------------------------------------------------------------

/** The user of a sessions path, read straight from the store (a non-UUID never reaches it). */
async function sessionsUser(deps: AdminDeps, ctx: Context) {
  const id = param(ctx, 'id');
  const user = isUuid(id) ? await deps.users.findById(id) : undefined;
  if (!user) throw new OAuthError('not_found', 'no user with this id');
  return user;
}

/** The sessions of a user, and one session by id (docs/sessions.md). */
export function adminSessionSteps(deps: AdminDeps) {
  return {
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
      const limit = auditPageSize(queryLimit(ctx, AUDIT_PAGE_MAX));
      const rows = await deps.auditEvents.list({
        type: type as AuditEventType | undefined,
        username: queryValue(ctx, 'username'),
        clientId: queryValue(ctx, 'client_id'),
        since: queryTime(ctx, 'since'),
        until: queryTime(ctx, 'until'),
        limit: limit + 1,
        beforeId,
      });
      const page = auditPage(rows, limit);
      ctx.body = {
        events: page.events.map(describeAuditEvent),
        ...(page.nextCursor ? { next_cursor: page.nextCursor } : {}),
      };
    },
  };
}
