import type { Context, Middleware, Next } from 'koa';
import { invalidRequest, OAuthError } from '../errors.js';
import { STRICT_UTF8 } from '../utf8.js';
import {
  formPairs,
  type JsonObject,
  MALFORMED_VALUE,
  type ParseOptions,
  parseFormStrict,
  parseJsonDocument,
  parseJsonStrict,
  rejectContentEncoding,
} from './strict_input.js';

/**
 * The one reader of request input (docs/endpoints.md "Input rules"): every route's query and body
 * are read here, by the route's first step, and nowhere else. It refuses content encodings,
 * oversized bodies (413), other media types and charsets (415), invalid UTF-8, bad percent-escapes,
 * NUL and other control characters, lone surrogates and repeated names (form and JSON, at any
 * depth) before any other step runs. Errors are thrown, so each route answers them in its own
 * shape: RFC 6749 §5.2 JSON, the admin API's JSON, or the /authorize error page.
 */

/** Request bodies are a handful of short fields; 16 KiB is generous (docs/endpoints.md). */
export const BODY_LIMIT_BYTES = 16 * 1024;

export type BodyMedia = 'form' | 'json';

export interface InputRule {
  /** The body media types the route reads; none: only an empty body (or `{}`) is accepted. */
  media: readonly BodyMedia[];
  /** `params`: one string per name (OAuth, RFC 6749 appendix A); `document`: JSON values. */
  shape: 'params' | 'document';
  /** Parameters whose malformed value becomes MALFORMED_VALUE (RFC 7009/7662 `token`). */
  lenient?: readonly string[];
  /**
   * Repeated form names are handed to the route instead of refused: RFC 6749 §4.1.2.1 makes
   * /authorize send that error to the client once the redirect URI is known good.
   */
  reportRepeats?: boolean;
}

/** Form-style fields (a query, a form): one value per name, empty values dropped (RFC 6749 §3.1). */
export interface Fields {
  values: ReadonlyMap<string, string>;
  /** Names given more than once (an empty copy counts). */
  repeated: ReadonlySet<string>;
}

interface Input {
  query: Fields;
  params?: Fields;
  document?: JsonObject;
}

const INPUTS = new WeakMap<Context, Input>();
const READERS = new WeakSet<Middleware>();

/** True for the steps readInput builds: routes.test.ts checks every route has one. */
export const isInputReader = (step: Middleware) => READERS.has(step);

function fields(pairs: Iterable<[string, string | undefined]>, options: ParseOptions): Fields {
  const values = new Map<string, string>();
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const [name, value] of pairs) {
    if (seen.has(name)) repeated.add(name);
    seen.add(name);
    if (value === undefined && !options.lenient?.includes(name)) {
      throw invalidRequest(`parameter "${name}" is not valid UTF-8 text`, 'malformed parameter value');
    }
    if (value !== '') values.set(name, value ?? MALFORMED_VALUE);
  }
  return { values, repeated };
}

const fromMap = (map: Map<string, string>): Fields => fields(map, {});

/** A body is coming when it has a length or is chunked (RFC 9112 §6.3). */
const hasBody = (ctx: Context) => ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';

const tooLarge = () => new OAuthError('invalid_request', 'request body too large', { status: 413 });

/**
 * The body's chunks, at most BODY_LIMIT_BYTES. Plain listeners rather than `for await`: the async
 * iterator costs a promise per chunk and one more at the end, on every request of the hot routes.
 * A body that grows past the limit is no longer kept and the connection closes after the 413 (the
 * rest of it is never buffered); one that ends early (the client went away: Node destroys an
 * incomplete request with an `aborted` error) is invalid_request.
 */
function readChunks(ctx: Context): Promise<Buffer[]> {
  const { req } = ctx;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: OAuthError) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err) reject(err);
      else resolve(chunks);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= BODY_LIMIT_BYTES) chunks.push(chunk);
      else {
        // The rest still flows, to nobody, until the 413 is out and the connection closes:
        // unread bytes at close would make the kernel answer RST, which can destroy the 413
        // before the client reads it (RFC 9112 §9.6, "tear-down").
        ctx.res.shouldKeepAlive = false;
        done(tooLarge());
      }
    };
    const onEnd = () => done();
    const onError = () => done(invalidRequest('the request body could not be read', 'body stream failed'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The body's bytes as UTF-8 text, at most BODY_LIMIT_BYTES; invalid UTF-8 is invalid_request. */
async function readText(ctx: Context): Promise<string> {
  if (!hasBody(ctx)) return '';
  if ((ctx.request.length ?? 0) > BODY_LIMIT_BYTES) throw tooLarge();
  const chunks = await readChunks(ctx);
  try {
    return STRICT_UTF8.decode(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  } catch {
    throw invalidRequest('the request body is not valid UTF-8');
  }
}

const MEDIA: Record<string, BodyMedia> = {
  'application/x-www-form-urlencoded': 'form',
  'application/json': 'json',
};

/** The body's media type, one the route reads, in UTF-8 (RFC 8259 §8.1); otherwise 415. */
function mediaOf(ctx: Context, accepted: readonly BodyMedia[]): BodyMedia {
  const media = MEDIA[ctx.request.type];
  const charset = ctx.request.charset.toLowerCase();
  if (media === undefined || !accepted.includes(media) || (charset !== '' && charset !== 'utf-8')) {
    const names = accepted.map((m) =>
      m === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
    );
    throw new OAuthError('invalid_request', `use ${names.join(' or ')} (UTF-8)`, { status: 415 });
  }
  return media;
}

function readBody(rule: InputRule, media: BodyMedia, text: string): Pick<Input, 'params' | 'document'> {
  const options = { lenient: rule.lenient };
  if (media === 'json') {
    if (text.trim() === '')
      return rule.shape === 'document' ? { document: {} } : { params: fromMap(new Map()) };
    return rule.shape === 'document'
      ? { document: parseJsonDocument(text, options) }
      : { params: fromMap(parseJsonStrict(text, options)) };
  }
  const form = rule.reportRepeats
    ? fields(formPairs(text), options)
    : fromMap(parseFormStrict(text, options));
  return rule.shape === 'document' ? { document: Object.fromEntries(form.values) } : { params: form };
}

/** A route that takes no body accepts an empty one, `{}` or an empty form. */
function emptyBody(ctx: Context, text: string): Pick<Input, 'params' | 'document'> {
  if (text === '') return { document: {} };
  const read = readBody({ media: ['form', 'json'], shape: 'document' }, mediaOf(ctx, ['form', 'json']), text);
  if (Object.keys(read.document ?? {}).length > 0) throw invalidRequest('this endpoint takes no body');
  return read;
}

/** The route's input step: reads and checks query and body by `rule`, before any other step. */
export function readInput(rule: InputRule): Middleware {
  const reader = async function readInput(ctx: Context, next: Next): Promise<void> {
    rejectContentEncoding(ctx);
    const query = fields(formPairs(ctx.querystring), {});
    const text = await readText(ctx);
    let body: Pick<Input, 'params' | 'document'>;
    if (rule.media.length === 0) body = emptyBody(ctx, text);
    else if (text === '' && ctx.get('content-type') === '')
      body = readBody(rule, rule.media[0] as BodyMedia, '');
    else body = readBody(rule, mediaOf(ctx, rule.media), text);
    INPUTS.set(ctx, { query, ...body });
    return next();
  };
  READERS.add(reader);
  return reader;
}

function input(ctx: Context): Input {
  const read = INPUTS.get(ctx);
  if (!read) throw new Error('the route has no input step (http/input.ts readInput)');
  return read;
}

/** The query string's fields, repeats reported (the route decides: /authorize, admin lists). */
export const queryFields = (ctx: Context): Fields => input(ctx).query;

/** The body's form-style fields, for routes whose rule has shape `params`. */
export function bodyFields(ctx: Context): Fields {
  const { params } = input(ctx);
  if (!params) throw new Error('the route reads a JSON document, not parameters');
  return params;
}

/**
 * Adds a parameter the body lacked, from another source the endpoint defines (the refresh cookie
 * of a cookie-mode client, docs/browser-apps.md). A parameter the body has is never replaced.
 */
export function supplyBodyParam(ctx: Context, name: string, value: string): void {
  const params = bodyFields(ctx);
  if (params.values.has(name)) return;
  input(ctx).params = { values: new Map([...params.values, [name, value]]), repeated: params.repeated };
}

/** The body's JSON document, for routes whose rule has shape `document` (`{}` for no body). */
export function jsonDocument(ctx: Context): JsonObject {
  const { document } = input(ctx);
  if (!document) throw new Error('the route reads parameters, not a JSON document');
  return document;
}

// --- the rules of the route table -------------------------------------------------------------

/**
 * RFC 7009 §2.1 and RFC 7662 §2.1: a malformed `token` is answered like an unknown one (200,
 * `{"active": false}` or a no-op revocation), so it is the one parameter whose bad bytes are not
 * invalid_request. No other endpoint reads a parameter of that name.
 */
export const OAUTH_LENIENT: readonly string[] = ['token'];

/** /token, /revoke, /introspect: form or JSON parameters (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1). */
export const readOAuthParams = readInput({
  media: ['form', 'json'],
  shape: 'params',
  lenient: OAUTH_LENIENT,
});
/** /authorize: the query (GET) or the login form (POST); repeats go to the endpoint, see above. */
export const readAuthorizeInput = readInput({ media: ['form'], shape: 'params', reportRepeats: true });
/** Admin changes and (RFC 7591) registration: one JSON object. */
export const readJsonBody = readInput({ media: ['json'], shape: 'document' });
/** POST /admin/keys/rotate: `{"force": true}` or the form `force=true`. */
export const readJsonOrFormBody = readInput({ media: ['json', 'form'], shape: 'document' });
/** Every other route: its query only; a body must be empty. */
export const readNoBody = readInput({ media: [], shape: 'document' });
