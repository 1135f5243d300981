import type { Context, Next } from 'koa';
import type { FactRecorder } from './publisher.js';
import { RequestFacts } from './request_facts.js';

/**
 * The per-request audit writer: the facts without a transaction that the request raised
 * (./request_facts.ts) are written as one audit insert when the route is done, then published,
 * all before Koa sends the answer. So an answer that acknowledges a change always has its audit
 * rows; if the insert fails (the database went away), the request fails instead: the error is
 * the store's, which the error handler in front answers 503 temporarily_unavailable (docs/audit.md).
 * A refusal's rows (a failed login) are written too, then the refusal is answered as it was.
 */
export function writeRequestFacts(recorder: Pick<FactRecorder, 'write'>) {
  return async function requestFacts(ctx: Context, next: Next): Promise<void> {
    const request = new RequestFacts(ctx.ip, ctx.state.requestId ?? null);
    ctx.state.requestFacts = request;
    let refusal: { err: unknown } | undefined;
    try {
      await next();
    } catch (err) {
      refusal = { err };
    }
    const { rows, facts } = request.take();
    if (facts.length > 0) {
      try {
        await recorder.write(rows, facts);
      } catch (err) {
        // The answer the route prepared must not reach the caller: no session cookie, no redirect
        // carrying a code, for a change whose audit row is missing (docs/audit.md).
        ctx.remove('Set-Cookie');
        ctx.remove('Location');
        throw err;
      }
    }
    if (refusal) throw refusal.err;
  };
}
