import { Writable } from 'node:stream';
import test from 'ava';
import { createLogger } from '../../src/observability.js';
import { adminCaller } from '../helpers/admin.js';
import { useServer } from '../helpers/app.js';
import { basic, createClient, createUser, getJson, postForm } from '../helpers/oauth.js';

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines, text: () => lines.join('\n') };
}

const requestLines = (lines: string[]) =>
  lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request' || l.msg === 'request failed');

test('one JSON line per request at info: id, method, route pattern, status, duration, client, IP', async (t) => {
  const logs = sink();
  const s = await useServer(t, { log: createLogger('info', logs.stream) });
  const app = await createClient(s, { name: 'app', grantTypes: ['client_credentials'] });
  const admin = await adminCaller(s, 'admin:clients');
  logs.lines.length = 0;

  await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials' },
    { authorization: basic(app.client_id, app.client_secret ?? ''), 'x-request-id': 'tok-1' },
  );
  await admin.call('GET', `/admin/clients/${app.client_id}`, undefined, { 'x-request-id': 'adm-1' });
  await getJson(`${s.url}/nowhere/${app.client_id}`, { 'x-request-id': 'miss-1' });

  const lines = requestLines(logs.lines);
  t.is(lines.length, 3, logs.text());
  const [token, get, miss] = lines;
  t.like(token, {
    level: 30,
    requestId: 'tok-1',
    method: 'POST',
    route: '/token',
    status: 200,
    clientId: app.client_id,
    ip: '127.0.0.1',
  });
  t.is(typeof token?.ms, 'number');
  t.like(get, {
    requestId: 'adm-1',
    method: 'GET',
    route: '/admin/clients/:id',
    status: 200,
    clientId: admin.client.client_id,
  });
  t.like(miss, { requestId: 'miss-1', route: 'unmatched', status: 404 });
  t.false(logs.text().includes(`/nowhere/`), 'never the raw path');
  for (const line of lines) {
    t.deepEqual(
      Object.keys(line)
        .filter((k) => !['level', 'time', 'pid', 'hostname', 'msg'].includes(k))
        .sort(),
      ['ip', 'method', 'ms', 'requestId', 'route', 'status', ...(line.clientId ? ['clientId'] : [])].sort(),
    );
  }
});

test('X-Request-Id: a well-formed one is echoed, anything else replaced; on every answer', async (t) => {
  const s = await useServer(t);
  const ok = await fetch(`${s.url}/healthz`, { headers: { 'x-request-id': 'abc-123_XYZ.~!' } });
  t.is(ok.headers.get('x-request-id'), 'abc-123_XYZ.~!');
  const longest = 'x'.repeat(128);
  t.is(
    (await fetch(`${s.url}/healthz`, { headers: { 'x-request-id': longest } })).headers.get('x-request-id'),
    longest,
  );
  for (const bad of ['x'.repeat(129), 'has space', 'tab\there', 'é-unicode', '']) {
    const res = await fetch(`${s.url}/healthz`, { headers: bad ? { 'x-request-id': bad } : {} });
    const id = res.headers.get('x-request-id') ?? '';
    t.not(id, bad);
    t.regex(id, /^[0-9a-f-]{36}$/);
  }
  // Errors, unknown routes and rejected bearer calls carry it too.
  for (const res of [
    await fetch(`${s.url}/token`, { method: 'POST', headers: { 'x-request-id': 'e1' } }),
    await fetch(`${s.url}/nope`, { headers: { 'x-request-id': 'e2' } }),
    await fetch(`${s.url}/admin/users`, { headers: { 'x-request-id': 'e3' } }),
  ]) {
    t.true(res.status >= 400);
    t.regex(res.headers.get('x-request-id') ?? '', /^e[123]$/);
  }
});

test('a password grant at trace level logs no password, secret, token or cookie', async (t) => {
  const logs = sink();
  const s = await useServer(t, { log: createLogger('trace', logs.stream) });
  const app = await createClient(s, { name: 'app' });
  const user = await createUser(s, 'traced', 'Tr4ce-Level-Passw0rd');
  // Not Tessera's refresh cookie (that one needs a registered Origin): any cookie must stay out.
  const cookie = 'session=Cookie-Value-That-Is-Secret';
  const res = await postForm(
    `${s.url}/token`,
    { grant_type: 'password', username: user.username, password: user.password },
    { authorization: basic(app.client_id, app.client_secret ?? ''), cookie },
  );
  t.is(res.status, 200);
  await postForm(
    `${s.url}/token`,
    { grant_type: 'password', username: user.username, password: 'Wr0ng-Trace-Passw0rd' },
    { authorization: basic(app.client_id, app.client_secret ?? ''), cookie },
  );
  const text = logs.text();
  t.true(requestLines(logs.lines).length >= 2);
  for (const secret of [
    user.password,
    'Wr0ng-Trace-Passw0rd',
    app.client_secret as string,
    basic(app.client_id, app.client_secret ?? '').slice(6),
    res.body.access_token as string,
    res.body.refresh_token as string,
    'Cookie-Value-That-Is-Secret',
  ]) {
    t.false(text.includes(secret), `leaked: ${secret.slice(0, 6)}…`);
  }
});
