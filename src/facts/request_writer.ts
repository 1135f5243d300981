import type { Context, Next } from 'koa';
import { requestState } from '../http/request_state.js';
import { type FactBatchWriter, RequestFacts, type WriteFacts } from './request_facts.js';

/**
 * The per-request audit writer, a front step inside the error handler: the facts without a
 * transaction that the request raised (./request_facts.ts) are written as one audit insert when
 * the route is done, then published, all before Koa sends the answer. So an answer that
 * acknowledges a change always has its audit rows (docs/audit.md).
 */
export function writeRequestFacts(writer: FactBatchWriter) {
  const write: WriteFacts = (rows, facts) => writer.write(rows, facts);
  return function requestFacts(ctx: Context, next: Next): Promise<void> {
    const state = requestState(ctx);
    state.requestFacts = new RequestFacts(ctx.ip, state.requestId ?? null, write);
    return withRequestFacts(ctx, next);
  };
}

/**
 * Runs the rest of the request, then writes its facts. If the insert fails (the database went
 * away), the request fails with the store's error, which the error handler answers 503
 * temporarily_unavailable, and the answer the route prepared is withdrawn: no session cookie, no
 * redirect carrying a code. A refusal's rows (a failed login) are written too, then the refusal
 * is thrown as it was. A route that answers errors its own way (/authorize, RFC 6749 §4.1.2.1)
 * calls this inside its error step, so a failed insert gets that answer; the front step then
 * finds nothing left to write.
 */
export async function withRequestFacts(ctx: Context, next: Next): Promise<void> {
  let refusal: { err: unknown } | undefined;
  try {
    await next();
  } catch (err) {
    refusal = { err };
  }
  const written = requestState(ctx).requestFacts?.write();
  if (written) {
    try {
      await written;
    } catch (err) {
      ctx.remove('Set-Cookie');
      ctx.remove('Location');
      throw err;
    }
  }
  if (refusal) throw refusal.err;
}
