import type { Context } from 'koa';
import { requestState } from '../http/request_state.js';
import type { AuditStamp } from '../stores/types.js';

/**
 * The one audit stamp of an HTTP request: who acted (the OAuth client, the admin client, the
 * registered client), from which address, in which request (X-Request-Id, src/http/request_log.ts).
 * Every fact of the request carries it (docs/audit.md: actors).
 */
export function requestStamp(ctx: Context, actor: string): AuditStamp {
  return { actor, ip: ctx.ip, requestId: requestState(ctx).requestId ?? null };
}
