import type { Context } from 'koa';
import type { z } from 'zod';
import { tokenActor } from '../accounts/admin_policy.js';
import { isStorableTime, LIST_PAGE_MAX } from '../accounts/page.js';
import { AccountError } from '../accounts/users.js';
import { OAuthError } from '../errors.js';
import { requestStamp } from '../facts/stamp.js';
import { ADMIN_SCOPE } from '../grants/scope.js';
import { bearerClaims } from '../http/bearer.js';
import { jsonDocument, queryFields } from '../http/input.js';
import { type AdminBody, adminBodies, firstIssue } from './admin_schemas.js';

/**
 * The admin API's reading of a request and its answers to refusals (docs/admin.md): bodies by
 * their schema, query parameters, the acting admin's stamp, account errors as RFC responses. No
 * I/O: the admin step modules (admin.ts, admin_clients.ts) share it.
 */

/** 422 naming the field (RFC 9110 §15.5.21): the request was understood but a value is wrong. */
export const invalidField = (field: string, message: string) =>
  new OAuthError('invalid_request', `"${field}": ${message}`, { status: 422 });

/** Account-layer refusals as the admin API answers them. */
export function accountError(err: unknown): unknown {
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
export async function account<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw accountError(err);
  }
}

/** The acting admin client and this request: the audit stamp of every change. */
export const adminStamp = (ctx: Context) => requestStamp(ctx, bearerClaims(ctx).client_id);
/** The same, with the privilege its token holds, for changes the admin policy decides on. */
export const adminActor = (ctx: Context) => tokenActor(adminStamp(ctx), bearerClaims(ctx).scope ?? '');

/** The route's JSON body (http/input.ts readJsonBody), checked by its schema (admin_schemas.ts). */
export function jsonBody<K extends AdminBody>(ctx: Context, route: K): z.infer<(typeof adminBodies)[K]> {
  // reportInput: zod 4 leaves the offending value out of an issue unless asked, and the 422 names it.
  const parsed = adminBodies[route].safeParse(jsonDocument(ctx), { reportInput: true });
  if (!parsed.success) throw invalidField(...firstIssue(parsed.error));
  return parsed.data as z.infer<(typeof adminBodies)[K]>;
}

/** A query parameter given once (a repeated one is refused, as for OAuth parameters). */
export function queryValue(ctx: Context, name: string): string | undefined {
  const query = queryFields(ctx);
  if (query.repeated.has(name)) throw invalidField(name, 'is repeated');
  return query.values.get(name);
}

export function queryLimit(ctx: Context, max: number): number | undefined {
  const raw = queryValue(ctx, 'limit');
  if (raw === undefined) return undefined;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw invalidField('limit', `must be an integer from 1 to ${max}`);
  }
  return Number(raw);
}

export function queryTime(ctx: Context, name: string): Date | undefined {
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

export const listPage = (ctx: Context) => ({
  limit: queryLimit(ctx, LIST_PAGE_MAX),
  cursor: queryValue(ctx, 'cursor'),
});

export const param = (ctx: Context, name: string) => String(ctx.params[name] ?? '');
