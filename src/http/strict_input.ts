import type { Context, Next } from 'koa';
import { invalidRequest, OAuthError } from '../errors.js';

/**
 * Strict decoding of everything a client sends as text. URLSearchParams, Buffer#toString and
 * JSON.parse all accept broken input silently (a stray `%zz` stays as is, invalid UTF-8 becomes
 * U+FFFD, `\u0000` becomes NUL), and such strings later fail deep inside Postgres (SQLSTATE 22021)
 * as a 500. Here they are refused at the edge instead.
 */

/**
 * Text a parameter may hold: well-formed UTF-16 (no lone surrogates), no NUL, no U+FFFD (what a
 * decoder substitutes for invalid UTF-8; no OAuth parameter legitimately contains it).
 */
export function isCleanText(value: string): boolean {
  return !LONE_SURROGATE.test(value) && !value.includes('\u0000') && !value.includes('\uFFFD');
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * One application/x-www-form-urlencoded component (RFC 6749 appendix B): `+` is a space, every
 * `%` starts a valid escape, and the bytes are valid UTF-8. Undefined when any of that fails or
 * the text is not clean.
 */
export function decodeFormComponent(raw: string): string | undefined {
  let decoded: string;
  try {
    // decodeURIComponent throws on a bad escape and on escapes that are not valid UTF-8.
    decoded = decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
  return isCleanText(decoded) ? decoded : undefined;
}

/**
 * A parameter value that could not be decoded, where the endpoint answers a malformed value like
 * an unknown one (the `token` of RFC 7009 and RFC 7662). `!` is not base64url, so it is never a
 * real token.
 */
export const MALFORMED_VALUE = '!malformed';

export interface ParseOptions {
  /** Parameters whose malformed values become MALFORMED_VALUE instead of invalid_request. */
  lenient?: readonly string[];
}

function accept(
  params: Map<string, string>,
  name: string,
  value: string | undefined,
  options: ParseOptions,
): void {
  // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
  if (params.has(name)) throw invalidRequest(`parameter "${name}" is repeated`);
  if (value === undefined) {
    if (!options.lenient?.includes(name)) {
      throw invalidRequest(`parameter "${name}" is not valid UTF-8 text`, 'malformed parameter value');
    }
    value = MALFORMED_VALUE;
  }
  params.set(name, value);
}

/**
 * A form body into name → value. Empty values are kept here (callers drop them, RFC 6749 §3.1)
 * so that `a=&a=x` still counts as a repeat.
 */
export function parseFormStrict(raw: string, options: ParseOptions = {}): Map<string, string> {
  const params = new Map<string, string>();
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeFormComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (name === undefined || name === '') throw invalidRequest('a parameter name is malformed');
    accept(params, name, decodeFormComponent(eq < 0 ? '' : pair.slice(eq + 1)), options);
  }
  return params;
}

// A JSON string literal, escapes included (RFC 8259 §7).
const JSON_STRING = /"(?:[^"\\]|\\.)*"/g;

/**
 * A JSON body into name → value: an object whose values are all strings (every OAuth parameter
 * is a string, RFC 6749 appendix A), no key twice. JSON.parse would keep the last
 * of two equal keys silently, so the keys are read again from the text: with only string values,
 * the string literals alternate key, value, key, value.
 */
export function parseJsonStrict(raw: string, options: ParseOptions = {}): Map<string, string> {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw invalidRequest('the body is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidRequest('the JSON body must be an object');
  }
  for (const [name, value] of Object.entries(body)) {
    if (typeof value !== 'string') throw invalidRequest(`parameter "${name}" must be a string`);
  }
  const literals = raw.match(JSON_STRING) ?? [];
  const params = new Map<string, string>();
  for (let i = 0; i + 1 < literals.length; i += 2) {
    const name = JSON.parse(literals[i] as string) as string;
    const value = JSON.parse(literals[i + 1] as string) as string;
    if (!isCleanText(name) || name === '') throw invalidRequest('a parameter name is malformed');
    accept(params, name, isCleanText(value) ? value : undefined, options);
  }
  return params;
}

/**
 * RFC 9110 §8.4: a body in a content coding the server does not accept gets 415. Only `identity`
 * is accepted: decompressing a request before authenticating it hands anyone a zip bomb.
 */
export function rejectContentEncoding(ctx: Context): void {
  const encoding = ctx.get('content-encoding').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    throw new OAuthError('invalid_request', 'content encodings other than identity are not accepted', {
      status: 415,
      headers: { 'Accept-Encoding': 'identity' },
    });
  }
}

/**
 * Refuses a request whose path or query has a bad percent-escape, invalid UTF-8, or NUL, before
 * any route reads it (path parameters and query values reach database lookups).
 */
export async function rejectMalformedUrl(ctx: Context, next: Next): Promise<void> {
  const pathOk = ctx.path
    .split('/')
    .every((segment) => decodeFormComponent(segment.replace(/\+/g, '%2B')) !== undefined);
  if (!pathOk) throw invalidRequest('the request path is malformed');
  if (ctx.querystring !== '') {
    for (const pair of ctx.querystring.split('&')) {
      const eq = pair.indexOf('=');
      const parts = eq < 0 ? [pair] : [pair.slice(0, eq), pair.slice(eq + 1)];
      if (parts.some((p) => decodeFormComponent(p) === undefined)) {
        throw invalidRequest('the query string is malformed');
      }
    }
  }
  await next();
}
