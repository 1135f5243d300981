/**
 * A small API protected by Tessera's access tokens, built on the resource-server kit
 * (packages/resource-server).
 *
 *   TESSERA_ISSUER=http://localhost:8080 API_AUDIENCE=https://api.example.test \
 *   INTROSPECT_CLIENT_ID=... INTROSPECT_CLIENT_SECRET=... PORT=9000 \
 *     npx tsx examples/resource-server/server.ts
 *
 * GET  /notes          JWKS-verified token with scope "read"
 * POST /notes          JWKS-verified token with scope "write"
 * POST /account/delete introspected token (a logout or revocation is seen at once), scope "write"
 * GET  /.well-known/oauth-protected-resource   RFC 9728 metadata
 */
import type { Server } from 'node:http';
import Koa from 'koa';
import { createResourceServer as protect } from '../../packages/resource-server/src/index.js';
import { protectedResourceMetadata, requireToken } from '../../packages/resource-server/src/koa.js';

export interface ResourceServerOptions {
  issuer: string;
  audience: string;
  introspection: { clientId: string; clientSecret: string };
  /** Browser origins allowed to call this API (the browser app example). */
  corsOrigins?: string[];
}

export function createResourceServer(options: ResourceServerOptions): Koa {
  const app = new Koa();
  const common = { resource: options.audience, issuer: options.issuer, scopesSupported: ['read', 'write'] };
  // Local verification against the cached JWKS: no call to Tessera per request.
  const verified = protect(common);
  // RFC 7662 on every request, where a logout or a revocation must count at once.
  const active = protect({
    ...common,
    introspection: {
      endpoint: `${options.issuer.replace(/\/$/, '')}/introspect`,
      ...options.introspection,
    },
  });
  const notes: { by: string; text: string }[] = [];

  app.use(async (ctx, next) => {
    const origin = ctx.get('origin');
    ctx.vary('Origin');
    if (origin && options.corsOrigins?.includes(origin)) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate');
      if (ctx.method === 'OPTIONS') {
        ctx.set('Access-Control-Allow-Methods', 'GET, POST');
        ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, DPoP');
        ctx.status = 204;
        return;
      }
    }
    await next();
  });
  app.use(protectedResourceMetadata(verified));
  const read = requireToken(verified, ['read']);
  const write = requireToken(verified, ['write']);
  const writeActive = requireToken(active, ['write']);
  app.use(async (ctx, next) => {
    const route = `${ctx.method} ${ctx.path}`;
    if (route === 'GET /notes')
      return read(ctx, async () => {
        ctx.body = { notes: notes.filter((n) => n.by === ctx.state.auth?.sub) };
      });
    if (route === 'POST /notes')
      return write(ctx, async () => {
        const text = ctx.get('x-note') || 'hello';
        notes.push({ by: ctx.state.auth?.sub as string, text });
        ctx.status = 201;
        ctx.body = { saved: text };
      });
    if (route === 'POST /account/delete')
      return writeActive(ctx, async () => {
        ctx.body = { deleted: ctx.state.auth?.sub };
      });
    await next();
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
  const server: Server = createResourceServer({
    issuer: env('TESSERA_ISSUER'),
    audience: env('API_AUDIENCE'),
    introspection: { clientId: env('INTROSPECT_CLIENT_ID'), clientSecret: env('INTROSPECT_CLIENT_SECRET') },
    corsOrigins: process.env.CORS_ORIGINS?.split(',').filter(Boolean),
  }).listen(Number(process.env.PORT ?? 9000), '127.0.0.1');
  server.on('listening', () => process.stdout.write(`resource server on ${JSON.stringify(server.address())}\n`));
}
