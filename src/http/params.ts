import type { Context, Next } from 'koa';
import bodyParser from 'koa-bodyparser';
import { OAuthError } from '../errors.js';
import { parseFormStrict, parseJsonStrict, rejectContentEncoding } from './strict_input.js';

/** Request bodies of an OAuth endpoint are a handful of short strings; 16 KiB is generous. */
export const BODY_LIMIT = '16kb';

/** Parsed request parameters: one string per name, empty values dropped (RFC 6749 §3.1). */
export type Params = ReadonlyMap<string, string>;

declare module 'koa' {
  interface DefaultState {
    params?: Params;
  }
}

/** The one body reader: form and JSON only, BODY_LIMIT each, errors thrown to error_handler.ts. */
export const readBody = bodyParser({
  enableTypes: ['form', 'json'],
  formLimit: BODY_LIMIT,
  jsonLimit: BODY_LIMIT,
  strict: true,
  onerror(err) {
    throw err;
  },
});

/**
 * RFC 7009 §2.1 and RFC 7662 §2.1: a malformed `token` is answered like an unknown one (200,
 * `{"active": false}` or a no-op revocation), so it is the one parameter whose bad bytes are not
 * invalid_request. No other endpoint reads a parameter of that name.
 */
const LENIENT = { lenient: ['token'] };

/** RFC 6749 §3.1: parameters sent without a value are treated as omitted. */
function withoutEmpty(params: Map<string, string>): Map<string, string> {
  for (const [name, value] of params) if (value === '') params.delete(name);
  return params;
}

/**
 * A form body, decoded strictly (http/strict_input.ts): bad escapes, invalid UTF-8, NUL and a
 * repeated name are invalid_request before any value reaches a store.
 */
export const fromForm = (raw: string) => withoutEmpty(parseFormStrict(raw, LENIENT));

/** A JSON body from its text: an object of strings, no key twice, the same strict text rules. */
export const fromJson = (raw: string) => withoutEmpty(parseJsonStrict(raw, LENIENT));

/** A body is coming when it has a length or is chunked (RFC 9112 §6.3). */
export const hasBody = (ctx: Context) => ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';

/**
 * Reads a form-encoded (RFC 6749 appendix B) or JSON body into `ctx.state.params`. Other content
 * types and any Content-Encoding but identity get 415; bodies over BODY_LIMIT get 413 (from the
 * parser, mapped in error_handler.ts).
 */
export async function parseParams(ctx: Context, next: Next): Promise<void> {
  rejectContentEncoding(ctx);
  if (!hasBody(ctx) && !ctx.get('content-type')) {
    ctx.state.params = new Map();
    return next();
  }
  const kind = ctx.request.is('application/x-www-form-urlencoded', 'application/json');
  if (!kind) {
    throw new OAuthError('invalid_request', 'use application/x-www-form-urlencoded or application/json', {
      status: 415,
    });
  }
  await readBody(ctx, async () => {});
  const raw = (ctx.request as { rawBody?: string }).rawBody ?? '';
  // Decoded again from the raw text: the parser's own result is lenient (see strict_input.ts).
  ctx.state.params = kind === 'application/json' ? fromJson(raw) : fromForm(raw);
  return next();
}

export function params(ctx: Context): Params {
  if (!ctx.state.params) throw new Error('parseParams must run first');
  return ctx.state.params;
}
