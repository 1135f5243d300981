import test from 'ava';
import { addressAllowed, classifyAddress, hostAllowed } from '../../src/cimd/address.js';
import { cacheLifetime, isMetadataDocumentUrl } from '../../src/cimd/document.js';
import { checkTarget, fetchMetadataDocument, MetadataFetchError } from '../../src/cimd/fetch.js';
import { testClock, useServer } from '../helpers/app.js';
import { CookieJar, getAuthorize, hiddenFields, pkce, postAuthorize } from '../helpers/authorize.js';
import {
  type DocumentServer,
  documentFor,
  type Route,
  startDocumentServer,
} from '../helpers/metadata_documents.js';
import { createUser, getJson, postForm } from '../helpers/oauth.js';

let docs: DocumentServer;
test.before(async () => {
  docs = await startDocumentServer();
});
test.after.always(() => docs.close());

const REDIRECT = 'http://127.0.0.1:33418/callback';
let paths = 0;
/** A fresh document path (the resolver caches per URL) with `route` (given its client_id) behind it. */
function serve(route: Route | ((clientId: string) => Route)) {
  const path = `/clients/${++paths}.json`;
  const clientId = `${docs.origin}${path}`;
  docs.routes.set(path, typeof route === 'function' ? () => route(clientId) : route);
  return { path, clientId };
}
const valid = (extra: Record<string, unknown> = {}) => serve((id) => ({ body: documentFor(id, extra) }));

const ENV = {
  CLIENT_ID_METADATA_DOCUMENTS: 'on',
  CIMD_ALLOW_LOOPBACK: 'true',
  THIRD_PARTY_SCOPES: 'read write',
  THIRD_PARTY_AUDIENCES: 'https://mcp.example.test/mcp',
};
const fetchOptions = () => ({ metadataDocumentFetch: { ca: docs.ca, timeoutMs: 1500 } });

function authorizeParams(clientId: string, extra: Record<string, string> = {}) {
  const pair = pkce();
  return {
    pair,
    params: {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      scope: 'read',
      state: 'st-1',
      code_challenge: pair.challenge,
      code_challenge_method: 'S256',
      ...extra,
    },
  };
}

/** An error page, never a redirect (docs/mcp.md): the URI in the document is not verified. */
async function assertErrorPage(
  t: import('ava').ExecutionContext,
  s: { url: string },
  clientId: string,
  reason: RegExp,
) {
  const page = await getAuthorize(s as never, authorizeParams(clientId).params);
  t.is(page.status, 400, page.html.slice(0, 200));
  t.is(page.location, null);
  t.regex(page.headers.get('content-type') ?? '', /text\/html/);
  t.regex(page.html, /Unknown app/);
  // The rule that refused it, so that removing any one rule turns its case red.
  t.regex(page.html, reason, clientId);
  return page;
}

test('address rules: loopback, private, link-local, unique-local, mapped and reserved addresses are not public', (t) => {
  for (const a of ['127.0.0.1', '127.9.9.9', '::1']) t.is(classifyAddress(a), 'loopback', a);
  for (const a of [
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    'fc00::1',
    'fd12::1',
    'fe80::1',
    'ff02::1',
    '::',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '64:ff9b::a00:1',
    '2002:a00:1::',
    '2001:db8::1',
    'not-an-ip',
  ])
    t.is(classifyAddress(a), 'non_public', a);
  for (const a of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:93.184.216.34'])
    t.is(classifyAddress(a), 'public', a);
  t.false(addressAllowed('127.0.0.1', false));
  t.true(addressAllowed('127.0.0.1', true));
  t.false(addressAllowed('10.0.0.1', true));
  t.true(hostAllowed('a.example.com', ['*.example.com']));
  t.false(hostAllowed('example.com', ['*.example.com']));
  t.false(hostAllowed('evil-example.com', ['*.example.com']));
  t.true(hostAllowed('anything.test', ['*']));
});

test('client_id URLs: https with a path, no fragment, credentials or dot segments', (t) => {
  t.true(isMetadataDocumentUrl('https://app.example.com/client.json'));
  for (const id of [
    'http://app.example.com/client.json',
    'https://app.example.com/',
    'https://app.example.com',
    'https://u:p@app.example.com/c',
    'https://app.example.com/a/../c',
    'https://app.example.com/c#x',
    'c_abc',
  ])
    t.false(isMetadataDocumentUrl(id), id);
});

test('the fetch refuses non-https, hosts off the list and address literals before connecting', async (t) => {
  const policy = { allowedHosts: ['*'], allowLoopback: false, timeoutMs: 20_000, maxBytes: 16384 };
  const reason = (f: () => unknown) =>
    (t.throws(f, { instanceOf: MetadataFetchError }) as MetadataFetchError).reason;
  t.is(
    reason(() => checkTarget(new URL('http://app.example.com/c'), policy)),
    'not_https',
  );
  t.is(
    reason(() =>
      checkTarget(new URL('https://app.example.com/c'), { ...policy, allowedHosts: ['*.other.test'] }),
    ),
    'host_not_allowed',
  );
  for (const literal of [
    'https://10.0.0.1/c',
    'https://169.254.169.254/latest',
    'https://[fd00::1]/c',
    'https://127.0.0.1/c',
  ])
    t.is(
      reason(() => checkTarget(new URL(literal), policy)),
      'address_not_allowed',
      literal,
    );
  // A name that resolves to loopback is refused after resolution, by the checked lookup.
  const err = await t.throwsAsync(
    fetchMetadataDocument(new URL(`${docs.origin}/x`), { ...policy, ca: docs.ca }),
  );
  t.is((err as MetadataFetchError).reason, 'address_not_allowed');
});

test('cache lifetimes follow Cache-Control/Expires, bounded to 1 min – 24 h', (t) => {
  const at = (cacheControl: string, expires = '', date = '') =>
    cacheLifetime({ cacheControl, expires, date });
  t.is(at(''), 60);
  t.is(at('max-age=600'), 600);
  t.is(at('public, max-age=5'), 60);
  t.is(at('max-age=9999999'), 86400);
  t.is(at('no-store'), 60);
  t.is(at('', 'Wed, 02 Dec 2026 12:10:00 GMT', 'Wed, 02 Dec 2026 12:00:00 GMT'), 600);
});

test('a metadata-document client signs in, consents, and redeems its code with PKCE (auth method none)', async (t) => {
  // Ahead of the database's clock, which stamps the user's password change.
  const clock = testClock(Date.now() + 30_000);
  const s = await useServer(t, { env: ENV, ...fetchOptions(), now: clock.now });
  const meta = await getJson(`${s.url}/.well-known/oauth-authorization-server`);
  t.true(meta.body.client_id_metadata_document_supported);
  const { path, clientId } = valid({ scope: 'read write' });
  const user = await createUser(s);
  const jar = new CookieJar();
  const request = authorizeParams(clientId, { resource: 'https://mcp.example.test/mcp' });
  const login = await getAuthorize(s, request.params, jar);
  t.is(login.status, 200, login.html.slice(0, 300));
  const consent = await postAuthorize(
    s,
    { ...hiddenFields(login.html), username: user.username, password: user.password },
    jar,
  );
  t.is(consent.status, 200);
  t.regex(consent.html, new RegExp(`localhost:${new URL(docs.origin).port}`));
  t.regex(consent.html, /a program on this computer/);
  t.regex(consent.html, /https:\/\/mcp\.example\.test\/mcp/);
  const decided = await fetch(`${s.url}/authorize/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
    body: new URLSearchParams({ ...hiddenFields(consent.html), decision: 'allow' }).toString(),
  });
  t.is(decided.status, 303, await decided.text());
  const back = new URL(decided.headers.get('location') as string);
  t.is(`${back.origin}${back.pathname}`, REDIRECT);
  const token = await postForm(`${s.url}/token`, {
    grant_type: 'authorization_code',
    client_id: clientId,
    code: back.searchParams.get('code') as string,
    redirect_uri: REDIRECT,
    code_verifier: request.pair.verifier,
  });
  t.is(token.status, 200, JSON.stringify(token.body));
  t.is(token.body.scope, 'read');
  const claims = JSON.parse(
    Buffer.from(String(token.body.access_token).split('.')[1] as string, 'base64url').toString(),
  );
  t.is(claims.client_id, clientId);
  t.is(claims.aud, 'https://mcp.example.test/mcp');
  // Cached: no second fetch within the minimum lifetime, a refetch after it.
  const fetched = docs.hits.get(path);
  await getAuthorize(s, authorizeParams(clientId).params, jar);
  t.is(docs.hits.get(path), fetched);
  clock.advance(61);
  await getAuthorize(s, authorizeParams(clientId).params, jar);
  t.is(docs.hits.get(path), (fetched ?? 0) + 1);
});

test('SSRF: a loopback document is refused without CIMD_ALLOW_LOOPBACK', async (t) => {
  const s = await useServer(t, { env: { ...ENV, CIMD_ALLOW_LOOPBACK: 'false' }, ...fetchOptions() });
  const { path, clientId } = valid();
  await assertErrorPage(t, s, clientId, /non-public address/);
  t.is(docs.hits.get(path), undefined, 'nothing was fetched');
  await assertErrorPage(t, s, `${docs.ipOrigin}${path}`, /non-public address/);
});

test('SSRF: redirects are not followed, oversized, slow, non-JSON and wrong documents are refused', async (t) => {
  const s = await useServer(t, { env: ENV, ...fetchOptions() });
  const target = valid();
  const redirect = serve({ status: 302, headers: { location: target.clientId } });
  await assertErrorPage(t, s, redirect.clientId, /redirects/);
  t.is(docs.hits.get(target.path), undefined, 'the redirect was not followed');
  const big = serve((id) => ({ body: documentFor(id, { padding: 'x'.repeat(17 * 1024) }) }));
  await assertErrorPage(t, s, big.clientId, /too large/);
  const bigChunked = serve((id) => ({
    headers: { 'transfer-encoding': 'chunked' },
    body: documentFor(id, { padding: 'x'.repeat(20 * 1024) }),
  }));
  await assertErrorPage(t, s, bigChunked.clientId, /too large/);
  await assertErrorPage(t, s, serve({ stall: true }).clientId, /took too long/);
  await assertErrorPage(
    t,
    s,
    serve({ headers: { 'content-type': 'text/html' }, body: '<html>' }).clientId,
    /not application\/json/,
  );
  await assertErrorPage(
    t,
    s,
    serve({ body: documentFor('https://elsewhere.example.test/c.json') }).clientId,
    /names another client_id/,
  );
  await assertErrorPage(
    t,
    s,
    serve((id) => ({ body: { ...documentFor(id), client_name: undefined } })).clientId,
    /has no client_name/,
  );
  await assertErrorPage(
    t,
    s,
    serve((id) => ({ body: documentFor(id, { redirect_uris: [] }) })).clientId,
    /redirect_uris/,
  );
  await assertErrorPage(
    t,
    s,
    serve((id) => ({ body: documentFor(id, { client_secret: 's' }) })).clientId,
    /client secret/,
  );
  await assertErrorPage(t, s, serve({ status: 404 }).clientId, /answered 404/);
  await assertErrorPage(t, s, serve({ body: '{"client_id": ' }).clientId, /not valid JSON/);
});

test('a redirect_uri that the document does not list is an error page; so is a host off CIMD_ALLOWED_HOSTS', async (t) => {
  const s = await useServer(t, { env: ENV, ...fetchOptions() });
  const { clientId } = valid();
  const page = await getAuthorize(
    s,
    authorizeParams(clientId, { redirect_uri: 'https://evil.example.test/cb' }).params,
  );
  t.is(page.status, 400);
  t.is(page.location, null);
  const listed = await useServer(t, {
    env: { ...ENV, CIMD_ALLOWED_HOSTS: '*.example.com' },
    ...fetchOptions(),
  });
  await assertErrorPage(t, listed, valid().clientId, /not allowed to serve/);
});

test('/token: an unfetchable metadata document is invalid_client; with documents off a URL is an unknown client', async (t) => {
  const s = await useServer(t, { env: ENV, ...fetchOptions() });
  const res = await postForm(`${s.url}/token`, {
    grant_type: 'authorization_code',
    client_id: serve({ status: 500 }).clientId,
    code: 'x',
    redirect_uri: REDIRECT,
    code_verifier: 'y'.repeat(43),
  });
  t.is(res.status, 401);
  t.is(res.body.error, 'invalid_client');
  const off = await useServer(t, { env: { THIRD_PARTY_SCOPES: 'read' }, ...fetchOptions() });
  const { path, clientId } = valid();
  await assertErrorPage(t, off, clientId, /not registered/);
  t.is(docs.hits.get(path), undefined);
  const meta = await getJson(`${off.url}/.well-known/oauth-authorization-server`);
  t.false('client_id_metadata_document_supported' in meta.body);
});
