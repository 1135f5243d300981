import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { decodeJwt } from 'jose';
import { freePort, useServer } from '../helpers/app.js';
import { connectAndCall, ScriptedBrowserProvider, startMcpServer } from '../helpers/mcp.js';
import { documentFor, startDocumentServer } from '../helpers/metadata_documents.js';
import { createUser } from '../helpers/oauth.js';
import { spawnServer } from '../helpers/server_process.js';

// The MCP TypeScript SDK as the MCP host, against the example MCP server (examples/mcp-server, the
// resource-server kit on Express 5) and Tessera, in the three ways a host meets an authorization
// server (docs/mcp.md): a client an admin registered, RFC 7591 dynamic registration, and a Client
// ID Metadata Document. Each ends in a tool call whose token is for the MCP server (aud).
const REDIRECT = 'http://127.0.0.1:33418/callback';
const SCOPE = 'mcp:tools';

/** The token the SDK got, and what the MCP server's tool saw in it. */
function assertForMcpServer(
  t: ExecutionContext,
  result: Awaited<ReturnType<typeof connectAndCall>>,
  resource: string,
  issuer: string,
) {
  t.deepEqual(result.tools, ['whoami']);
  const token = result.tokens?.access_token as string;
  const claims = decodeJwt(token);
  t.deepEqual([claims.aud].flat(), [resource], 'the token is for the MCP server, and only for it');
  t.is(claims.iss, issuer);
  t.is(claims.scope, SCOPE);
  t.deepEqual([result.whoami.aud].flat(), [resource]);
  t.is(result.whoami.scope, SCOPE);
}

test('pre-registered: an admin-created public client; 401 → RFC 9728 metadata → discovery → PKCE + resource → tool call', async (t) => {
  const mcpPort = await freePort();
  const s = await useServer(t, { issuerFromUrl: true });
  const { resource } = await startMcpServer(t, s.url, mcpPort);
  const client = await s.services.clientAccounts.create({
    name: 'Notes host',
    isPublic: true,
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: [SCOPE],
    audiences: [resource],
    redirectUris: [REDIRECT],
  });
  const user = await createUser(s);
  const provider = new ScriptedBrowserProvider(
    REDIRECT,
    { client_name: 'Notes host', redirect_uris: [REDIRECT] },
    user,
    { clientInformation: { client_id: client.client_id } },
  );
  const result = await connectAndCall(t, `${resource}`, provider);
  assertForMcpServer(t, result, resource, s.url);
  t.is(result.whoami.client_id, client.client_id);
  t.is(provider.trace.consentHtml, undefined, 'a first-party client gets no consent page');
  const request = provider.trace.authorizationUrl as URL;
  t.is(request.searchParams.get('resource'), resource);
  t.is(request.searchParams.get('code_challenge_method'), 'S256');
  t.is(provider.trace.redirect?.searchParams.get('iss'), s.url, 'RFC 9207 iss on the redirect');
});

test('dynamic registration (CLIENT_REGISTRATION=open): the SDK registers, the user consents, the tool is called; without application_type the error says what to send', async (t) => {
  const mcpPort = await freePort();
  const resource = `http://127.0.0.1:${mcpPort}/mcp`;
  const s = await useServer(t, {
    issuerFromUrl: true,
    env: {
      CLIENT_REGISTRATION: 'open',
      THIRD_PARTY_SCOPES: SCOPE,
      THIRD_PARTY_AUDIENCES: resource,
      RATE_LIMIT_REGISTRATIONS_PER_HOUR: '1000',
    },
  });
  await startMcpServer(t, s.url, mcpPort);
  const user = await createUser(s);
  // What the SDK's own example client (and many hosts) send: no application_type, so RFC 7591 §2's
  // default "web", which allows https redirect URIs only.
  const asWeb = new ScriptedBrowserProvider(
    REDIRECT,
    { client_name: 'Notes host', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' },
    user,
  );
  const refused = await t.throwsAsync(connectAndCall(t, resource, asWeb));
  t.regex(refused?.message ?? '', /application_type "native"/, 'the error says what to send');

  const provider = new ScriptedBrowserProvider(
    REDIRECT,
    {
      client_name: 'Notes host',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      application_type: 'native',
    },
    user,
  );
  const result = await connectAndCall(t, resource, provider);
  assertForMcpServer(t, result, resource, s.url);
  const clientId = String(provider.clientInformation()?.client_id);
  t.is(result.whoami.client_id, clientId);
  const consent = provider.trace.consentHtml ?? '';
  t.regex(consent, /Notes host/);
  t.regex(consent, /registered dynamically/);
  t.regex(consent, /a program on this computer/, 'the loopback warning');
  t.regex(consent, new RegExp(resource.replace(/[.]/g, '\\.')));
});

test('Client ID Metadata Document over HTTPS on loopback (self-signed, NODE_EXTRA_CA_CERTS, CIMD_ALLOW_LOOPBACK): the SDK presents its URL as client_id, the tool is called', async (t) => {
  t.timeout(300_000); // a spawned Tessera compiles its sources through tsx first
  const docs = await startDocumentServer();
  t.teardown(() => docs.close());
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-mcp-ca-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'ca.pem'), docs.ca);
  const clientId = `${docs.origin}/clients/notes-host.json`;
  docs.routes.set('/clients/notes-host.json', {
    body: documentFor(clientId, { client_name: 'Notes host (CIMD)', redirect_uris: [REDIRECT] }),
    headers: { 'cache-control': 'max-age=300' },
  });

  const mcpPort = await freePort();
  const resource = `http://127.0.0.1:${mcpPort}/mcp`;
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const tessera = await spawnServer(t, {
    PORT: String(port),
    ISSUER: issuer,
    NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem'),
    CLIENT_ID_METADATA_DOCUMENTS: 'on',
    CIMD_ALLOW_LOOPBACK: 'true',
    THIRD_PARTY_SCOPES: SCOPE,
    THIRD_PARTY_AUDIENCES: resource,
  });
  t.regex(tessera.output(), /CIMD_ALLOW_LOOPBACK/, 'the start-up log says loopback documents are on');
  const password = /password:\s+(\S+)/.exec(tessera.output())?.[1] as string;
  await startMcpServer(t, issuer, mcpPort);

  const provider = new ScriptedBrowserProvider(
    REDIRECT,
    { client_name: 'Notes host (CIMD)', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' },
    { username: 'demo', password },
    { clientMetadataUrl: clientId },
  );
  const result = await connectAndCall(t, resource, provider);
  assertForMcpServer(t, result, resource, issuer);
  t.is(result.whoami.client_id, clientId);
  t.is(provider.trace.authorizationUrl?.searchParams.get('client_id'), clientId);
  t.true((docs.hits.get('/clients/notes-host.json') ?? 0) >= 1, 'Tessera fetched the document');
  const consent = provider.trace.consentHtml ?? '';
  t.regex(consent, /Notes host \(CIMD\)/);
  t.true(consent.includes(new URL(clientId).host), 'the consent page names the host serving the document');
});
