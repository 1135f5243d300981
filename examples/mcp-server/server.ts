/**
 * A small MCP server (Streamable HTTP, MCP TypeScript SDK, Express 5) whose one tool needs an access
 * token from Tessera: the resource-server kit (packages/resource-server) verifies it and serves
 * the RFC 9728 protected-resource metadata that MCP hosts follow to find Tessera (docs/mcp.md).
 *
 *   TESSERA_ISSUER=http://127.0.0.1:8080 MCP_RESOURCE=http://127.0.0.1:9100/mcp PORT=9100 \
 *     npx tsx examples/mcp-server/server.ts
 *
 * POST /mcp                                     MCP over Streamable HTTP (stateless), scope "mcp:tools"
 * GET  /.well-known/oauth-protected-resource/mcp RFC 9728 metadata
 *
 * Tessera then needs THIRD_PARTY_AUDIENCES to hold MCP_RESOURCE and THIRD_PARTY_SCOPES "mcp:tools"
 * (for registered and metadata-document clients), or an admin-created client with that audience.
 */
import type { Server } from 'node:http';
import { createResourceServer } from '@tessera-auth/resource-server';
import { protectedResourceMetadata, requireToken } from '@tessera-auth/resource-server/express';
import type { AccessClaims } from '@tessera-auth/resource-server';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { type Express } from 'express';

export interface McpServerOptions {
  /** Tessera's ISSUER, exactly. */
  issuer: string;
  /** This server's URL: the `resource` clients ask for and the `aud` its tokens must carry. */
  resource: string;
}

export const SCOPE = 'mcp:tools';

/** One MCP server per request (stateless): its tool answers with the caller's verified token. */
function mcpServerFor(auth: AccessClaims): McpServer {
  const server = new McpServer({ name: 'tessera-example', version: '1.0.0' });
  server.registerTool(
    'whoami',
    { description: 'Who the access token says is calling, and for which audience' },
    async () => ({
      content: [
        {
          type: 'text',
          text: JSON.stringify({ sub: auth.sub, client_id: auth.client_id, aud: auth.aud, scope: auth.scope }),
        },
      ],
    }),
  );
  return server;
}

export function createMcpApp(options: McpServerOptions): Express {
  const kit = createResourceServer({
    resource: options.resource,
    issuer: options.issuer,
    scopesSupported: [SCOPE],
  });
  const app = express();
  app.use(protectedResourceMetadata(kit)); // /.well-known/oauth-protected-resource/mcp
  const path = new URL(options.resource).pathname;
  app.all(path, requireToken(kit, [SCOPE]), express.json(), async (req, res) => {
    if (req.method !== 'POST') {
      res.set('Allow', 'POST').status(405).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null });
      return;
    }
    const auth = (req as { auth?: AccessClaims }).auth as AccessClaims;
    const server = mcpServerFor(auth);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return app;
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const env = (name: string) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is required`);
    return v;
  };
  const server: Server = createMcpApp({ issuer: env('TESSERA_ISSUER'), resource: env('MCP_RESOURCE') }).listen(
    Number(process.env.PORT ?? 9100),
    '127.0.0.1',
  );
  server.on('listening', () => process.stdout.write(`MCP server on ${JSON.stringify(server.address())}\n`));
}
