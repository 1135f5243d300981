import type { Server } from 'node:http';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { ExecutionContext } from 'ava';
import { createMcpApp } from '../../examples/mcp-server/server.js';
import { CookieJar, hiddenFields } from './authorize.js';

/** The example MCP server (examples/mcp-server) on 127.0.0.1:`port`, closed when the test ends. */
export async function startMcpServer(t: ExecutionContext, issuer: string, port: number) {
  const resource = `http://127.0.0.1:${port}/mcp`;
  const server: Server = createMcpApp({ issuer, resource }).listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { resource };
}

/** What the user's browser saw while the provider drove /authorize. */
export interface BrowserTrace {
  authorizationUrl?: URL;
  /** The consent page, when Tessera showed one (third-party clients). */
  consentHtml?: string;
  code?: string;
  redirect?: URL;
}

/**
 * An OAuthClientProvider (MCP TypeScript SDK) whose "browser" is a cookie jar: redirectToAuthorization
 * opens the login page, posts the user's credentials, presses Allow on the consent page when there
 * is one, and keeps the code from the redirect to `redirectUrl` for finishAuth.
 */
export class ScriptedBrowserProvider implements OAuthClientProvider {
  readonly trace: BrowserTrace = {};
  private client?: OAuthClientInformationMixed;
  private saved?: OAuthTokens;
  private verifier = '';
  readonly clientMetadataUrl?: string;

  constructor(
    readonly redirectUrl: string,
    private readonly metadata: OAuthClientMetadata & Record<string, unknown>,
    private readonly user: { username: string; password: string },
    options: { clientInformation?: OAuthClientInformationMixed; clientMetadataUrl?: string } = {},
  ) {
    this.client = options.clientInformation;
    if (options.clientMetadataUrl) this.clientMetadataUrl = options.clientMetadataUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return this.metadata;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }

  async redirectToAuthorization(url: URL): Promise<void> {
    this.trace.authorizationUrl = url;
    const jar = new CookieJar();
    const go = async (target: string, form?: Record<string, string>) => {
      const res = await fetch(target, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: {
          ...jar.header(),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(form ? { body: new URLSearchParams(form).toString() } : {}),
      });
      jar.store(res.headers);
      return { status: res.status, html: await res.text(), location: res.headers.get('location') };
    };
    const login = await go(url.href);
    if (login.status !== 200) throw new Error(`login page: ${login.status} ${login.html.slice(0, 300)}`);
    let answer = await go(new URL('/authorize', url).href, {
      ...hiddenFields(login.html),
      username: this.user.username,
      password: this.user.password,
    });
    if (answer.status === 200 && answer.html.includes('action="/authorize/consent"')) {
      this.trace.consentHtml = answer.html;
      answer = await go(new URL('/authorize/consent', url).href, {
        ...hiddenFields(answer.html),
        decision: 'allow',
      });
    }
    if (!answer.location) throw new Error(`no redirect: ${answer.status} ${answer.html.slice(0, 300)}`);
    const back = new URL(answer.location);
    this.trace.redirect = back;
    const error = back.searchParams.get('error');
    if (error)
      throw new Error(`authorization error: ${error} ${back.searchParams.get('error_description') ?? ''}`);
    this.trace.code = back.searchParams.get('code') ?? undefined;
  }
}

/**
 * What an MCP host does: connect, get 401, let the SDK discover Tessera and send the "browser" to
 * /authorize, finish with the code, connect again, and call the tool.
 */
export async function connectAndCall(t: ExecutionContext, mcpUrl: string, provider: ScriptedBrowserProvider) {
  const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  const client = new Client({ name: 'tessera-test-host', version: '1.0.0' });
  const refused = await client.connect(first).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!provider.trace.code) {
    await client.close().catch(() => {});
    throw refused ?? new Error('connected without authorizing');
  }
  await first.finishAuth(provider.trace.code);
  await client.close();

  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  const again = new Client({ name: 'tessera-test-host', version: '1.0.0' });
  await again.connect(transport);
  t.teardown(() => again.close());
  const tools = await again.listTools();
  const result = await again.callTool({ name: 'whoami', arguments: {} });
  const [content] = result.content as { type: string; text: string }[];
  return {
    tools: tools.tools.map((x) => x.name),
    whoami: JSON.parse(content?.text ?? '{}') as Record<string, unknown>,
    tokens: provider.tokens(),
  };
}
