import type { Context } from 'koa';
import { requestState } from '../http/request_state.js';
import type { AuditStamp } from '../stores/types.js';

/**
 * The one audit stamp of an HTTP request: who acted (the OAuth client, the admin client, the
 * registered client), from which address, in which request (X-Request-Id, src/http/request_log.ts).
 * Every fact of the request carries it (docs/audit.md: actors). Behind the per-request writer the
 * address and id were read from the request once, and facts recorded with the stamp are written
 * in the request's one audit insert; without it (a route mounted on its own) they are written at once.
 */
export function requestStamp(ctx: Context, actor: string): AuditStamp {
  const state = requestState(ctx);
  return state.requestFacts?.stamp(actor) ?? { actor, ip: ctx.ip, requestId: state.requestId ?? null };
}
