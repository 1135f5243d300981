import { type AddressInfo, connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import Koa, { type Context } from 'koa';
import { OAuthError } from '../../src/errors.js';
import {
  BODY_LIMIT_BYTES,
  bodyFields,
  type InputRule,
  jsonDocument,
  queryFields,
  readInput,
} from '../../src/http/input.js';
import { isCleanText, parseJsonDocument } from '../../src/http/strict_input.js';

// The one input reader (src/http/input.ts) on raw requests: a bare Koa app, no database.

async function serve(rule: InputRule) {
  const app = new Koa();
  app.silent = true;
  const errors: unknown[] = [];
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      errors.push(err);
      const e = err instanceof OAuthError ? err : new OAuthError('server_error', 'internal error');
      ctx.status = e.status;
      ctx.body = { error: e.error, error_description: e.description };
    }
  });
  app.use(readInput(rule));
  app.use((ctx: Context) => {
    const query = queryFields(ctx);
    const body = rule.shape === 'params' ? Object.fromEntries(bodyFields(ctx).values) : jsonDocument(ctx);
    ctx.body = { query: Object.fromEntries(query.values), repeated: [...query.repeated], body };
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    errors,
    port: (server.address() as AddressInfo).port,
    async send(body: string | Uint8Array | undefined, headers: Record<string, string> = {}, query = '') {
      const res = await fetch(`${url}/${query}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers,
        body: body as BodyInit | undefined,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Writes `head` on a raw connection, then whatever `feed` writes; resolves with everything the
 * server sent once it hung up. A client still writing when the server closes gets EPIPE or
 * ECONNRESET: that is the hang-up, not a failure, when the answer came first.
 */
function rawExchange(port: number, head: string, feed: (write: (data: string) => boolean) => void) {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      answer += d;
    });
    socket.on('error', (err) => {
      if (answer === '') reject(err);
    });
    socket.on('end', () => socket.destroy());
    socket.on('close', () => resolve(answer));
    socket.write(head);
    feed((data) => !socket.destroyed && socket.write(data));
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };
const FORM_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };

test('JSON documents: nested values kept; a repeated key at any depth is refused', (t) => {
  t.deepEqual(parseJsonDocument('{"a":["x","y"],"b":{"c":true,"d":null}}'), {
    a: ['x', 'y'],
    b: { c: true, d: null },
  });
  for (const raw of [
    '{"a":1,"a":2}',
    '{"a":{"b":1,"b":2}}',
    '{"a":[{"b":1},{"c":1,"c":2}]}',
    '{"a":"x","\\u0061":"y"}',
    '{"x":{"k":"v"},"y":{"k":"v","k":"w"}}',
  ]) {
    t.is(t.throws<OAuthError>(() => parseJsonDocument(raw))?.error, 'invalid_request', raw);
  }
  // The same key in two sibling objects is no repeat; a key-like string value is no key.
  t.notThrows(() => parseJsonDocument('{"x":{"k":"v"},"y":{"k":"v"},"z":["k","k"],"w":"k"}'));
  t.notThrows(() => parseJsonDocument('{"a":"\\"","b":"}","c":","}'));
});

test('JSON documents: NUL, control characters and lone surrogates anywhere are refused; nesting is bounded', (t) => {
  for (const raw of [
    '{"name":"de\\u0000mo"}',
    '{"name":"a\\u0007b"}',
    '{"redirect_uris":["https://a.example/\\u0000"]}',
    '{"audiences":["\\ud800"]}',
    '{"a":{"b":["x\\udc00y"]}}',
    '{"\\u0000":"x"}',
    '{"a":{"\\ud800":1}}',
    `${'{"a":'.repeat(40)}1${'}'.repeat(40)}`,
    '[]',
    'null',
    '"x"',
  ]) {
    t.is(t.throws<OAuthError>(() => parseJsonDocument(raw))?.error, 'invalid_request', raw);
  }
  t.true(isCleanText('tab\there\r\n'));
  t.false(isCleanText('\u007f'));
  // A surrogate pair is fine text.
  t.deepEqual(parseJsonDocument('{"name":"\\ud83d\\ude00"}'), { name: '😀' });
  // "__proto__" stays a plain key and never reaches a prototype.
  const doc = parseJsonDocument('{"__proto__":{"admin":true}}');
  t.is(Object.getPrototypeOf(doc), Object.prototype);
  t.deepEqual(Object.keys(doc), ['__proto__']);
});

test('the reader refuses content encodings, other media types and charsets, invalid UTF-8 and big bodies', async (t) => {
  const s = await serve({ media: ['json'], shape: 'document' });
  t.teardown(s.close);
  const ok = await s.send('{"a":["b"],"c":true}', JSON_TYPE);
  t.is(ok.status, 200);
  t.deepEqual(ok.body.body, { a: ['b'], c: true });
  for (const encoding of ['gzip', 'br', 'deflate', 'x-junk']) {
    const gz = await s.send(gzipSync('{"a":"b"}'), { ...JSON_TYPE, 'content-encoding': encoding });
    t.is(gz.status, 415, encoding);
    const junk = await s.send('\u0000junk', { ...JSON_TYPE, 'content-encoding': encoding });
    t.is(junk.status, 415, encoding);
  }
  t.is((await s.send('{}', { ...JSON_TYPE, 'content-encoding': 'identity' })).status, 200);
  t.is((await s.send('a=b', FORM_TYPE)).status, 415);
  t.is((await s.send('{}', { 'content-type': 'application/json; charset=latin1' })).status, 415);
  t.is((await s.send('{}', { 'content-type': 'text/plain' })).status, 415);
  const latin = await s.send(
    new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d]),
    JSON_TYPE,
  );
  t.is(latin.status, 400, 'invalid UTF-8');
  t.is((await s.send(`{"a":"${'x'.repeat(BODY_LIMIT_BYTES)}"}`, JSON_TYPE)).status, 413);
  t.is((await s.send('{"a":"x","a":"y"}', JSON_TYPE)).status, 400);
  t.deepEqual((await s.send('', JSON_TYPE)).body.body, {}, 'no body is an empty object');
});

test('a chunked body that grows past the limit is answered 413 and its connection closed, not read on', async (t) => {
  const s = await serve({ media: ['form'], shape: 'params' });
  t.teardown(s.close);
  const head =
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n';
  // 80 KiB of a body that never ends: the server must answer without its end and hang up.
  const answer = await rawExchange(s.port, head, (write) => {
    for (let i = 0; i < 20; i++) write(`1000\r\n${'a'.repeat(0x1000)}\r\n`);
  });
  t.regex(answer, /^HTTP\/1\.1 413 /);
  t.regex(answer, /connection: close/i);
  t.regex(answer, /"error":"invalid_request"/);
});

test('a body cut short by the client is a clean invalid_request, and the server keeps serving', async (t) => {
  const s = await serve({ media: ['form'], shape: 'params' });
  t.teardown(s.close);
  const socket = connect(s.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\na=b',
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
  // The server hears the close on its own schedule: allow it a while under a loaded machine.
  for (let i = 0; i < 300 && s.errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(s.errors.length, 1);
  t.like(s.errors[0], { error: 'invalid_request' });
  t.is((await s.send('a=b', FORM_TYPE)).status, 200);
});

test('the reader decodes queries strictly and reports their repeats; form repeats are refused unless reported', async (t) => {
  const strict = await serve({ media: ['form'], shape: 'params' });
  const reported = await serve({ media: ['form'], shape: 'params', reportRepeats: true });
  t.teardown(strict.close);
  t.teardown(reported.close);
  const q = await strict.send(undefined, {}, '?a=1&a=2&b=x%20y&c=');
  t.is(q.status, 200);
  t.deepEqual(q.body.query, { a: '2', b: 'x y' });
  t.deepEqual(q.body.repeated, ['a']);
  for (const bad of ['?a=%ff', '?a=%00', '?a=%zz', '?%c3%28=1', '?a=%01']) {
    t.is((await strict.send(undefined, {}, bad)).status, 400, bad);
  }
  t.is((await strict.send('a=1&a=2', FORM_TYPE)).status, 400);
  t.is((await reported.send('a=1&a=2', FORM_TYPE)).status, 200);
  t.is((await strict.send('a=%ff', FORM_TYPE)).status, 400);
  t.deepEqual((await strict.send('a=x+y&b=', FORM_TYPE)).body.body, { a: 'x y' });
});

test('a route that takes no body accepts none, {} or an empty form, and refuses anything else', async (t) => {
  const s = await serve({ media: [], shape: 'document' });
  t.teardown(s.close);
  t.is((await s.send(undefined)).status, 200);
  t.is((await s.send('', { 'content-type': 'text/plain' })).status, 200);
  t.is((await s.send('{}', JSON_TYPE)).status, 200);
  t.is((await s.send('', FORM_TYPE)).status, 200);
  t.is((await s.send('{"force":true}', JSON_TYPE)).status, 400);
  t.is((await s.send('x=1', FORM_TYPE)).status, 400);
  t.is((await s.send('x', { 'content-type': 'text/plain' })).status, 415);
  t.is((await s.send('{}', { ...JSON_TYPE, 'content-encoding': 'gzip' })).status, 415);
});
