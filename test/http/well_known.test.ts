import { Writable } from 'node:stream';
import test from 'ava';
import { createLogger } from '../../src/observability.js';
import { useServer } from '../helpers/app.js';

// JWKS and metadata are answered by a short path before the router (endpoints/discovery.ts):
// the same answer as the router's, still logged and counted under the route pattern.

function sink() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { stream, requests: () => lines.filter((l) => l.msg === 'request') };
}

const PATHS = ['/.well-known/jwks.json', '/.well-known/oauth-authorization-server'];

test('the short path answers like the router, and is logged and counted by route', async (t) => {
  const logs = sink();
  const s = await useServer(t, { log: createLogger('info', logs.stream) });
  for (const path of PATHS) {
    const short = await fetch(`${s.url}${path}`, { headers: { 'x-request-id': 'short' } });
    // A query string takes the router's way (its input reader reads the query).
    const routed = await fetch(`${s.url}${path}?x=1`, { headers: { 'x-request-id': 'routed' } });
    t.is(short.status, 200);
    t.is(routed.status, 200);
    for (const name of [
      'content-type',
      'etag',
      'cache-control',
      'x-content-type-options',
      'content-length',
    ]) {
      t.is(short.headers.get(name), routed.headers.get(name), `${path} ${name}`);
    }
    t.is(await short.text(), await routed.text());
    const etag = short.headers.get('etag') ?? '';
    const notModified = await fetch(`${s.url}${path}`, {
      headers: { 'if-none-match': `W/${etag}, "other"` },
    });
    t.is(notModified.status, 304);
    const head = await fetch(`${s.url}${path}`, { method: 'HEAD' });
    t.is(head.status, 200);
    t.is(head.headers.get('etag'), etag);
  }
  const lines = logs.requests().filter((l) => PATHS.includes(l.route as string));
  t.is(lines.length, PATHS.length * 4);
  t.true(lines.every((l) => l.status === 200 || l.status === 304));
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  for (const path of PATHS) {
    t.regex(
      metrics,
      new RegExp(
        `tessera_http_requests_total\\{route="${path.replace(/\./g, '\\.')}",method="GET",status="200"\\} 2\n`,
      ),
    );
  }
  // Another method is the router's to answer.
  const withBody = await fetch(`${s.url}${PATHS[0]}`, {
    method: 'POST',
  });
  t.is(withBody.status, 405);
});
