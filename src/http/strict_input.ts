import type { Context, Next } from 'koa';
import { invalidRequest, OAuthError } from '../errors.js';

/**
 * Strict decoding of everything a client sends as text. URLSearchParams, Buffer#toString and
 * JSON.parse all accept broken input silently (a stray `%zz` stays as is, invalid UTF-8 becomes
 * U+FFFD, `\u0000` becomes NUL), and such strings later fail deep inside Postgres (SQLSTATE 22021)
 * as a 500. Here they are refused at the edge instead.
 */

/**
 * Text a parameter may hold: well-formed UTF-16 (no lone surrogates, which Postgres would store as
 * U+FFFD or refuse), no NUL or other control character but tab, CR and LF, no U+FFFD (what a
 * decoder substitutes for invalid UTF-8; no parameter legitimately contains it).
 */
export function isCleanText(value: string): boolean {
  return !LONE_SURROGATE.test(value) && !CONTROL.test(value) && !value.includes('\uFFFD');
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// C0 controls except HT, LF and CR; DEL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

// What the form serializer leaves as it is (WHATWG URL "application/x-www-form-urlencoded
// serializer", RFC 3986 §2.3 unreserved and `*`): all clean text.
const AS_IS = /^[A-Za-z0-9*._~-]*$/;

/**
 * One application/x-www-form-urlencoded component (RFC 6749 appendix B): `+` is a space, every
 * `%` starts a valid escape, and the bytes are valid UTF-8. Undefined when any of that fails or
 * the text is not clean.
 */
export function decodeFormComponent(raw: string): string | undefined {
  // Most components (grant types, ids, tokens) are unreserved characters only: nothing to decode,
  // nothing to check, and the regexes below would scan a 1 KB token three times.
  if (AS_IS.test(raw)) return raw;
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
 * A form body or query string into its name/value pairs, in order, repeats included. A malformed
 * name is invalid_request; a malformed value is undefined (the caller decides, see `accept`).
 */
export function formPairs(raw: string): [string, string | undefined][] {
  const pairs: [string, string | undefined][] = [];
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeFormComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (name === undefined || name === '') throw invalidRequest('a parameter name is malformed');
    pairs.push([name, decodeFormComponent(eq < 0 ? '' : pair.slice(eq + 1))]);
  }
  return pairs;
}

/**
 * A form body into name → value. Empty values are kept here (callers drop them, RFC 6749 §3.1)
 * so that `a=&a=x` still counts as a repeat.
 */
export function parseFormStrict(raw: string, options: ParseOptions = {}): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of formPairs(raw)) accept(params, name, value, options);
  return params;
}

/** A JSON value as RFC 8259 defines it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Nesting beyond this is no request this server takes (admin bodies nest two levels). */
const MAX_JSON_DEPTH = 32;

/**
 * Every object key of a JSON text, checked for repeats within its own object at any depth (RFC
 * 8259 §4 leaves duplicates undefined; JSON.parse silently keeps the last). The text has already
 * parsed, so a scan that knows strings, brackets and commas is enough: inside an object, a string
 * after `{` or `,` is a key.
 */
function refuseRepeatedKeys(raw: string): void {
  const open: (Set<string> | null)[] = []; // null: an array
  let expectKey = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '"') {
      let end = i + 1;
      while (raw[end] !== '"') end += raw[end] === '\\' ? 2 : 1;
      const keys = open.at(-1);
      if (keys && expectKey) {
        const key = JSON.parse(raw.slice(i, end + 1)) as string;
        if (keys.has(key)) throw invalidRequest(`JSON key "${key.slice(0, 64)}" is repeated`);
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      open.push(c === '{' ? new Set() : null);
      if (open.length > MAX_JSON_DEPTH) throw invalidRequest('the JSON body is nested too deeply');
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      open.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = open.at(-1) instanceof Set;
    }
  }
}

/** Every key and string at any depth is clean text (isCleanText); lenient top-level values excepted. */
function cleanJson(value: JsonValue, lenientKey: boolean): JsonValue {
  if (typeof value === 'string') {
    if (isCleanText(value)) return value;
    if (lenientKey) return MALFORMED_VALUE;
    throw invalidRequest('a JSON string is not valid UTF-8 text', 'malformed JSON string');
  }
  if (Array.isArray(value)) return value.map((v) => cleanJson(v, false));
  if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (key === '' || !isCleanText(key)) throw invalidRequest('a JSON key is malformed');
      cleanJson(value[key] as JsonValue, false);
    }
  }
  return value;
}

/**
 * A JSON body as a document: an object at the top, no key twice in any object at any depth, every
 * key and string clean text. Values nest (the admin API's arrays and booleans, RFC 7591 metadata).
 */
export function parseJsonDocument(raw: string, options: ParseOptions = {}): JsonObject {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw invalidRequest('the body is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidRequest('the JSON body must be an object');
  }
  refuseRepeatedKeys(raw);
  const document = body as JsonObject;
  for (const key of Object.keys(document)) {
    if (key === '' || !isCleanText(key)) throw invalidRequest('a parameter name is malformed');
    const value = document[key] as JsonValue;
    const cleaned = cleanJson(value, options.lenient?.includes(key) === true);
    // defineProperty, not assignment: a key "__proto__" must stay a plain own property.
    if (cleaned !== value) Object.defineProperty(document, key, { value: cleaned, enumerable: true });
  }
  return document;
}

/**
 * A JSON body into name → value: an object whose values are all strings (every OAuth parameter
 * is a string, RFC 6749 appendix A), no key twice, the same strict text rules as a form.
 */
export function parseJsonStrict(raw: string, options: ParseOptions = {}): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of Object.entries(parseJsonDocument(raw, options))) {
    if (typeof value !== 'string') throw invalidRequest(`parameter "${name}" must be a string`);
    params.set(name, value);
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
 * Refuses a request whose path has a bad percent-escape, invalid UTF-8, or NUL, before any route
 * matches it (path parameters reach database lookups). The query and the body are the route's
 * input reader's (http/input.ts), which answers in the route's own error shape.
 */
export function rejectMalformedPath(ctx: Context, next: Next): Promise<void> {
  // A throw here reaches the error handler as a rejection (koa-compose wraps every step).
  if (!isCleanPath(ctx.path)) throw invalidRequest('the request path is malformed');
  return next();
}

/**
 * One scan of the path: visible ASCII without `%` is clean as it is (every route's path);
 * anything else (an escape, a control or non-ASCII character) is decoded segment by segment by the
 * strict form decoder, which decides (`+` is literal in a path, RFC 3986 §3.3).
 */
export function isCleanPath(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x25) return decodesCleanly(path);
  }
  return true;
}

const decodesCleanly = (path: string) =>
  path.split('/').every((segment) => decodeFormComponent(segment.replace(/\+/g, '%2B')) !== undefined);
