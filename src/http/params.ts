import type { Context } from 'koa';
import { bodyFields, OAUTH_LENIENT, readOAuthParams, supplyBodyParam } from './input.js';
import { parseFormStrict, parseJsonStrict } from './strict_input.js';

/** Parsed request parameters: one string per name, empty values dropped (RFC 6749 §3.1). */
export type Params = ReadonlyMap<string, string>;

const LENIENT = { lenient: OAUTH_LENIENT };

/** RFC 6749 §3.1: parameters sent without a value are treated as omitted. */
function withoutEmpty(params: Map<string, string>): Map<string, string> {
  for (const [name, value] of params) if (value === '') params.delete(name);
  return params;
}

/** A form body as the OAuth endpoints read it (http/strict_input.ts rules, `token` lenient). */
export const fromForm = (raw: string) => withoutEmpty(parseFormStrict(raw, LENIENT));

/** A JSON body as the OAuth endpoints read it: an object of strings, no key twice. */
export const fromJson = (raw: string) => withoutEmpty(parseJsonStrict(raw, LENIENT));

/**
 * The input step of /token, /revoke and /introspect (http/input.ts): form-encoded (RFC 6749
 * appendix B) or JSON parameters, under the one reader's rules.
 */
export const parseParams = readOAuthParams;

/** The request's OAuth parameters, as the route's input step read them. */
export const params = (ctx: Context): Params => bodyFields(ctx).values;

/** A parameter the body lacked, supplied by an earlier step (the cookie-mode refresh token). */
export const supplyParam = supplyBodyParam;
