import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import express from 'express';
import Koa from 'koa';
import * as expressKit from '../../packages/resource-server/src/express.js';
import {
  MemoryReplayCache,
  createResourceServer as protect,
  type ResourceServer,
  type ResourceServerOptions,
} from '../../packages/resource-server/src/index.js';
import * as koaKit from '../../packages/resource-server/src/koa.js';
import { useServer } from '../helpers/app.js';
import { dpopKey, proof } from '../helpers/dpop.js';
import { basic, createClient, createResourceServer, postForm, type TestClient } from '../helpers/oauth.js';

// The resource-server kit (packages/resource-server) in front of a real Tessera, mounted in Koa
// and as Express-style (req, res, next) middleware on node:http. The API is reached at 127.0.0.1
// while its configured public URL is https://mcp.example.test: DPoP `htu` is checked against the
// configuration, never the Host header.
const RESOURCE = 'https://mcp.example.test/mcp';
const PUBLIC = 'https://mcp.example.test';
const METADATA = `${PUBLIC}/.well-known/oauth-protected-resource/mcp`;

// 'express': the Express-style adapter on bare node:http; 'express5': the same adapter in Express 5.
type Framework = 'koa' | 'express' | 'express5';

async function listen(t: ExecutionContext, server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The same API in either framework: GET /mcp needs "read", POST /mcp needs "write". */
function api(framework: Framework, kit: ResourceServer): Server {
  if (framework === 'koa') {
    const app = new Koa();
    app.use(koaKit.protectedResourceMetadata(kit));
    const read = koaKit.requireToken(kit, ['read']);
    const write = koaKit.requireToken(kit, ['write']);
    app.use(async (ctx, next) => {
      if (ctx.path !== '/mcp') return next();
      return (ctx.method === 'POST' ? write : read)(ctx, async () => {
        ctx.body = { sub: ctx.state.auth?.sub };
      });
    });
    return createServer(app.callback());
  }
  if (framework === 'express5') {
    const app = express();
    app.use(expressKit.protectedResourceMetadata(kit));
    const answer = (req: express.Request, res: express.Response) => {
      res.json({ sub: (req as expressKit.AuthenticatedRequest).auth?.sub });
    };
    app.get('/mcp', expressKit.requireToken(kit, ['read']), answer);
    app.post('/mcp', expressKit.requireToken(kit, ['write']), answer);
    return createServer(app);
  }
  const metadata = expressKit.protectedResourceMetadata(kit);
  const read = expressKit.requireToken(kit, ['read']);
  const write = expressKit.requireToken(kit, ['write']);
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const fail = () => {
      res.statusCode = 500;
      res.end();
    };
    metadata(req, res, (err) => {
      if (err) return fail();
      if (!req.url?.startsWith('/mcp')) {
        res.statusCode = 404;
        return res.end();
      }
      (req.method === 'POST' ? write : read)(req, res, (err2) => {
        if (err2) return fail();
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ sub: (req as expressKit.AuthenticatedRequest).auth?.sub }));
      });
    });
  });
}

async function call(base: string, options: { method?: string; auth?: string; dpop?: string[] } = {}) {
  const headers = new Headers();
  if (options.auth) headers.set('authorization', options.auth);
  for (const p of options.dpop ?? []) headers.append('dpop', p);
  const res = await fetch(`${base}/mcp`, { method: options.method ?? 'GET', headers });
  const text = await res.text();
  return {
    status: res.status,
    challenge: res.headers.get('www-authenticate') ?? '',
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** A server that accepts connections and never answers: a JWKS or introspection endpoint that hangs. */
async function hanging(t: ExecutionContext): Promise<string> {
  return listen(
    t,
    createServer(() => {}),
  );
}

async function tessera(t: ExecutionContext) {
  const s = await useServer(t, { issuerFromUrl: true });
  const client = (name: string, scopes: string[], audiences = [RESOURCE]) =>
    createClient(s, { name, grantTypes: ['client_credentials'], scopes, audiences });
  const token = async (c: TestClient, headers: Record<string, string> = {}) => {
    const res = await postForm(
      `${s.url}/token`,
      { grant_type: 'client_credentials', resource: RESOURCE },
      { authorization: basic(c.client_id, c.client_secret ?? ''), ...headers },
    );
    if (res.status !== 200) throw new Error(JSON.stringify(res.body));
    return res.body as { access_token: string; token_type: string };
  };
  return { s, client, token };
}

async function kitFor(
  t: ExecutionContext,
  framework: Framework,
  options: Partial<ResourceServerOptions> & { issuer: string },
) {
  const kit = protect({
    resource: RESOURCE,
    publicUrl: PUBLIC,
    scopesSupported: ['read', 'write'],
    ...options,
  });
  return { kit, base: await listen(t, api(framework, kit)) };
}

const frameworks: Framework[] = ['koa', 'express', 'express5'];

for (const framework of frameworks) {
  test(`${framework}: valid token 200; no token 401 with resource_metadata; missing scope 403 insufficient_scope; wrong aud and iss 401`, async (t) => {
    const { s, client, token } = await tessera(t);
    const { base } = await kitFor(t, framework, { issuer: s.url });
    const both = await client('agent', ['read', 'write']);
    const reader = await client('reader', ['read']);
    const elsewhere = await client('elsewhere', ['read', 'write'], ['https://other-api.example.test']);

    const good = (await token(both)).access_token;
    const ok = await call(base, { auth: `Bearer ${good}` });
    t.is(ok.status, 200);
    t.is(ok.body.sub, both.client_id);
    t.is((await call(base, { method: 'POST', auth: `Bearer ${good}` })).status, 200);

    const none = await call(base);
    t.is(none.status, 401);
    t.is(none.challenge.split(', DPoP ')[0], `Bearer realm="api", resource_metadata="${METADATA}"`);
    t.regex(none.challenge, /, DPoP algs="ES256 /);
    t.false(/error=/.test(none.challenge), 'RFC 6750 §3.1: no error code without credentials');

    const narrow = (await token(reader)).access_token;
    t.is((await call(base, { auth: `Bearer ${narrow}` })).status, 200);
    const insufficient = await call(base, { method: 'POST', auth: `Bearer ${narrow}` });
    t.is(insufficient.status, 403);
    t.is(insufficient.body.error, 'insufficient_scope');
    t.regex(
      insufficient.challenge,
      new RegExp(
        `^Bearer realm="api", resource_metadata="${METADATA}", error="insufficient_scope", scope="write"`,
      ),
    );

    const foreign = await postForm(
      `${s.url}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic(elsewhere.client_id, elsewhere.client_secret ?? '') },
    );
    const wrongAud = await call(base, { auth: `Bearer ${foreign.body.access_token}` });
    t.is(wrongAud.status, 401, 'a token for another audience');
    t.regex(wrongAud.challenge, new RegExp(`resource_metadata="${METADATA}", error="invalid_token"`));

    const otherIssuer = await kitFor(t, framework, {
      issuer: 'https://not-tessera.example.test',
      jwks: { uri: `${s.url}/.well-known/jwks.json` },
    });
    const wrongIss = await call(otherIssuer.base, { auth: `Bearer ${good}` });
    t.is(wrongIss.status, 401, 'signed by a trusted key but for another issuer');
    t.is(wrongIss.body.error, 'invalid_token');

    const rsaOnly = await kitFor(t, framework, { issuer: s.url, algorithms: ['RS256'] });
    t.is(
      (await call(rsaOnly.base, { auth: `Bearer ${good}` })).status,
      401,
      'an algorithm not on the allow-list',
    );

    const malformed = await call(base, { auth: 'Bearer two words' });
    t.is(malformed.status, 400);
    t.regex(malformed.challenge, /error="invalid_request"/);

    const metadata = await fetch(`${base}/.well-known/oauth-protected-resource/mcp`);
    t.is(metadata.status, 200);
    t.deepEqual(await metadata.json(), {
      resource: RESOURCE,
      authorization_servers: [s.url],
      scopes_supported: ['read', 'write'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: [
        'ES256',
        'ES384',
        'ES512',
        'EdDSA',
        'Ed25519',
        'PS256',
        'PS384',
        'PS512',
        'RS256',
        'RS384',
        'RS512',
      ],
    });
  });

  test(`${framework}: a JWKS or an introspection endpoint that hangs is 503 within the timeout, never 401`, async (t) => {
    const { s, client, token } = await tessera(t);
    const good = (await token(await client('agent', ['read']))).access_token;
    const stuck = await hanging(t);

    const jwks = await kitFor(t, framework, {
      issuer: s.url,
      jwks: { uri: `${stuck}/jwks.json`, timeoutMs: 300 },
    });
    let started = Date.now();
    const slowKeys = await call(jwks.base, { auth: `Bearer ${good}` });
    t.is(slowKeys.status, 503);
    t.is(slowKeys.body.error, 'temporarily_unavailable');
    t.true(Date.now() - started < 3000, `answered after ${Date.now() - started} ms`);

    const unreachable = await kitFor(t, framework, {
      issuer: s.url,
      jwks: { uri: 'http://127.0.0.1:9/jwks.json' },
    });
    t.is((await call(unreachable.base, { auth: `Bearer ${good}` })).status, 503, 'connection refused');

    const introspector = await createResourceServer(s, [RESOURCE]);
    const credentials = {
      clientId: introspector.client_id,
      clientSecret: introspector.client_secret as string,
    };
    const slowIntrospection = await kitFor(t, framework, {
      issuer: s.url,
      introspection: { endpoint: `${stuck}/introspect`, ...credentials, timeoutMs: 300 },
    });
    started = Date.now();
    t.is((await call(slowIntrospection.base, { auth: `Bearer ${good}` })).status, 503);
    t.true(Date.now() - started < 3000, `answered after ${Date.now() - started} ms`);

    const introspected = await kitFor(t, framework, {
      issuer: s.url,
      introspection: { endpoint: `${s.url}/introspect`, ...credentials },
    });
    t.is((await call(introspected.base, { auth: `Bearer ${good}` })).status, 200);
    t.is((await call(introspected.base, { auth: 'Bearer not-a-token' })).status, 401);
  });

  test(`${framework}: a DPoP-bound token with its proof is 200; as Bearer 401; a replayed proof 401; a proof for the Host header's URL 401`, async (t) => {
    const { s, client, token } = await tessera(t);
    const { base } = await kitFor(t, framework, { issuer: s.url });
    const key = await dpopKey();
    const agent = await client('agent', ['read', 'write']);
    const issued = await token(agent, { dpop: await proof(key, { htu: `${s.url}/token` }) });
    t.is(issued.token_type, 'DPoP');
    const access = issued.access_token;
    const at = (o: { htm?: string; htu?: string } = {}) =>
      proof(key, { htm: o.htm ?? 'GET', htu: o.htu ?? RESOURCE, accessToken: access });

    const first = await at();
    const ok = await call(base, { auth: `DPoP ${access}`, dpop: [first] });
    t.is(ok.status, 200, JSON.stringify(ok.body));
    t.is(
      (await call(base, { method: 'POST', auth: `DPoP ${access}`, dpop: [await at({ htm: 'POST' })] }))
        .status,
      200,
    );

    const replayed = await call(base, { auth: `DPoP ${access}`, dpop: [first] });
    t.is(replayed.status, 401);
    t.regex(replayed.challenge, /^DPoP algs="[^"]+", resource_metadata="[^"]+", error="invalid_dpop_proof"/);

    const asBearer = await call(base, { auth: `Bearer ${access}` });
    t.is(asBearer.status, 401);
    t.regex(asBearer.challenge, /^DPoP .*error="invalid_token"/);

    const refused = {
      'no proof': [],
      'two proofs in one line': [`${await at()}, ${await at()}`],
      'the Host header URL': [await at({ htu: `${base}/mcp` })],
      'another method': [await at({ htm: 'POST' })],
      'another key': [await proof(await dpopKey(), { htm: 'GET', htu: RESOURCE, accessToken: access })],
      'no ath': [await proof(key, { htm: 'GET', htu: RESOURCE })],
      'an old iat': [
        await proof(key, {
          htm: 'GET',
          htu: RESOURCE,
          accessToken: access,
          iat: Math.floor(Date.now() / 1000) - 600,
        }),
      ],
      'typ JWT': [
        await proof(key, { htm: 'GET', htu: RESOURCE, accessToken: access, header: { typ: 'JWT' } }),
      ],
    };
    for (const [label, dpop] of Object.entries(refused)) {
      const r = await call(base, { auth: `DPoP ${access}`, dpop });
      t.is(r.status, 401, label);
      t.is(r.body.error, 'invalid_dpop_proof', label);
    }

    // RFC 9449 §4.3 check 1: two DPoP header lines (fetch would join them into one).
    const twoLines = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${base}/mcp`);
      Promise.all([at(), at()]).then(([a, b]) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: '/mcp',
            headers: { authorization: `DPoP ${access}`, dpop: [a, b] },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      }, reject);
    });
    t.is(twoLines, 401, 'two DPoP header lines');

    const plain = (await token(await client('plain', ['read']))).access_token;
    const unbound = await call(base, {
      auth: `DPoP ${plain}`,
      dpop: [await proof(key, { htm: 'GET', htu: RESOURCE, accessToken: plain })],
    });
    t.is(unbound.status, 401, 'an unbound token is no DPoP token');
    t.is(unbound.body.error, 'invalid_token');

    const readerKey = await dpopKey();
    const bound = await token(await client('bound reader', ['read']), {
      dpop: await proof(readerKey, { htu: `${s.url}/token` }),
    });
    const insufficient = await call(base, {
      method: 'POST',
      auth: `DPoP ${bound.access_token}`,
      dpop: [await proof(readerKey, { htm: 'POST', htu: RESOURCE, accessToken: bound.access_token })],
    });
    t.is(insufficient.status, 403);
    t.regex(
      insufficient.challenge,
      /^DPoP algs="[^"]+", resource_metadata="[^"]+", error="insufficient_scope", scope="write"/,
    );
  });
}

test('several instances: a plugged-in shared replay cache refuses a proof used on another instance; a failing cache is 503', async (t) => {
  const { s, client, token } = await tessera(t);
  const key = await dpopKey();
  const issued = await token(await client('agent', ['read']), {
    dpop: await proof(key, { htu: `${s.url}/token` }),
  });
  const access = issued.access_token;
  const shared = new MemoryReplayCache();
  const a = await kitFor(t, 'koa', { issuer: s.url, dpop: { replayCache: shared } });
  const b = await kitFor(t, 'express', { issuer: s.url, dpop: { replayCache: shared } });
  const p = await proof(key, { htm: 'GET', htu: RESOURCE, accessToken: access });
  t.is((await call(a.base, { auth: `DPoP ${access}`, dpop: [p] })).status, 200);
  const elsewhere = await call(b.base, { auth: `DPoP ${access}`, dpop: [p] });
  t.is(elsewhere.status, 401, 'the same proof at the other instance');
  t.is(elsewhere.body.error, 'invalid_dpop_proof');

  const broken = await kitFor(t, 'koa', {
    issuer: s.url,
    dpop: {
      replayCache: {
        claim: async () => {
          throw new Error('cache down');
        },
      },
    },
  });
  const fresh = await proof(key, { htm: 'GET', htu: RESOURCE, accessToken: access });
  t.is((await call(broken.base, { auth: `DPoP ${access}`, dpop: [fresh] })).status, 503);
});
