import type { Context, Next } from 'koa';
import bodyParser from 'koa-bodyparser';
import { invalidRequest, OAuthError } from '../errors.js';

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

export function fromForm(raw: string): Map<string, string> {
  const params = new Map<string, string>();
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(raw)) {
    // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    if (seen.has(name)) throw invalidRequest(`parameter "${name}" is repeated`);
    seen.add(name);
    if (value !== '') params.set(name, value);
  }
  return params;
}

export function fromJson(body: unknown): Map<string, string> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidRequest('the JSON body must be an object');
  }
  const params = new Map<string, string>();
  for (const [name, value] of Object.entries(body)) {
    if (typeof value !== 'string') throw invalidRequest(`parameter "${name}" must be a string`);
    if (value !== '') params.set(name, value);
  }
  return params;
}

/** A body is coming when it has a length or is chunked (RFC 9112 §6.3). */
export const hasBody = (ctx: Context) => ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';

/**
 * Reads a form-encoded (RFC 6749 appendix B) or JSON body into `ctx.state.params`. Other content
 * types get 415; bodies over BODY_LIMIT get 413 (from the parser, mapped in error_handler.ts).
 */
export async function parseParams(ctx: Context, next: Next): Promise<void> {
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
  ctx.state.params = kind === 'application/json' ? fromJson(ctx.request.body) : fromForm(raw);
  return next();
}

export function params(ctx: Context): Params {
  if (!ctx.state.params) throw new Error('parseParams must run first');
  return ctx.state.params;
}
