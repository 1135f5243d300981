import { Writable } from 'node:stream';
import test from 'ava';
import fc from 'fast-check';
import { createLogger } from '../../src/observability.js';
import { startServer, type TestServer } from '../helpers/app.js';
import { createCodeClient, pkce, REDIRECT_URI } from '../helpers/authorize.js';
import { clientCredentials, createClient, createUser, passwordLogin } from '../helpers/oauth.js';
import {
  type FuzzRequest,
  type Known,
  type Profile,
  pathAround,
  pathsWithParam,
  pathWithParam,
  request,
} from './arbitraries.js';

/**
 * Property-based fuzzing of every endpoint (fast-check): hostile bodies, content types and
 * encodings, credentials and JWT-like strings. Properties: never a 5xx, never a stack trace or
 * SQL in a body or a log line, no error-level log, and the server healthy afterwards.
 * FUZZ_RUNS sets the runs per endpoint (`npm run fuzz -- --runs 10000`); CI uses the default.
 */
const RUNS = Number(process.env.FUZZ_RUNS) || 100;
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

/** What must never leave the server: stack frames, driver or SQL text, internal paths. */
const LEAK =
  /\bat [\w$.<>]+ \(|node_modules|\/src\/|SQLSTATE|\bselect\b.+\bfrom\b|\binsert into\b|\bupdate\b.+\bset\b|syntax error|violates|invalid byte sequence|Z_DATA_ERROR|knex|pglite/i;

interface Fixture {
  s: TestServer;
  known: Known;
  logs: string[];
}

let fixture: Promise<Fixture> | undefined;

/** One server for the whole file, its logs collected line by line at debug level. */
function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        logs.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const s = await startServer({
      log: createLogger('debug', sink),
      // Fuzzing is not a brute-force test: keep the limits out of the way.
      env: {
        RATE_LIMIT_CLIENT_PER_MINUTE: '100000000',
        RATE_LIMIT_IP_FAILURES_PER_HOUR: '10000000',
        RATE_LIMIT_LOGIN_FAILURES: '1000000',
        // Dynamic registration on, so /register (RFC 7591/7592) is fuzzed too.
        CLIENT_REGISTRATION: 'open',
        RATE_LIMIT_REGISTRATIONS_PER_HOUR: '1000000',
        THIRD_PARTY_SCOPES: 'read',
      },
    });
    const app = await createClient(s, {
      name: 'fuzz',
      grantTypes: ['password', 'refresh_token', 'client_credentials'],
      canIntrospect: true,
      isAdmin: true,
    });
    const spa = await createClient(s, {
      name: 'fuzz spa',
      grantTypes: ['password', 'refresh_token'],
      isPublic: true,
    });
    const user = await createUser(s, 'fuzz');
    const login = await passwordLogin(s, app, user.username, user.password);
    const admin = await clientCredentials(s, app, { scope: 'admin' });
    const codeClient = await createCodeClient(s, { name: 'fuzz code' });
    // What the admin routes may disable, re-key or end: never the fuzzer's own client or user.
    const victimClient = await createClient(s, {
      name: 'fuzz victim',
      grantTypes: ['password', 'refresh_token'],
    });
    const victimUser = await createUser(s, 'victim');
    const victimLogin = await passwordLogin(s, victimClient, victimUser.username, victimUser.password);
    const victimSession = JSON.parse(
      Buffer.from(String(victimLogin.body.access_token).split('.')[1] ?? '', 'base64url').toString(),
    ) as { sid: string };
    const known: Known = {
      clientId: app.client_id,
      clientSecret: app.client_secret as string,
      publicClientId: spa.client_id,
      username: user.username,
      password: user.password,
      accessToken: admin.body.access_token as string,
      refreshToken: login.body.refresh_token as string,
      kid: s.services.keys.current().signer.kid,
      codeClientId: codeClient.client_id,
      redirectUri: REDIRECT_URI,
      codeChallenge: pkce().challenge,
      victimClientId: victimClient.client_id,
      victimUserId: victimUser.id,
      victimSessionId: victimSession.sid,
    };
    return { s, known, logs };
  })();
  return fixture;
}

async function send(s: TestServer, r: FuzzRequest) {
  let res: Response;
  try {
    res = await fetch(`${s.url}${r.path}`, {
      method: r.method,
      headers: r.headers,
      body: r.body as BodyInit | undefined,
      redirect: 'manual',
    });
  } catch (err) {
    // A dropped connection is the server's failure; a request fetch refuses to send is not a case.
    const cause = err instanceof Error ? (err.cause as Error | undefined) : undefined;
    if (cause) throw new Error(`connection failed (${cause.message}) <- ${r.label}`);
    fc.pre(false);
    throw err;
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

function checkAnswer(answer: { status: number; type: string; text: string }, r: FuzzRequest) {
  const where = `${answer.status} ${answer.text.slice(0, 200)} <- ${r.label}`;
  if (answer.status >= 500) throw new Error(`5xx: ${where}`);
  // The login and consent forms carry the request's own parameters back, HTML-escaped, as hidden
  // fields (docs/endpoints.md): random bytes there can spell "knex" without anything leaking.
  const leak = LEAK.exec(answer.text.replace(/<input type="hidden" [^>]*>/g, ''));
  if (leak) throw new Error(`leak in body (${JSON.stringify(leak[0].slice(0, 80))}): ${where}`);
  if (answer.status >= 400 && answer.type.includes('json')) {
    const body = JSON.parse(answer.text) as Record<string, unknown>;
    if (typeof body.error !== 'string') throw new Error(`error without an RFC error code: ${where}`);
  }
}

/** The log lines since `from`: no error level, nothing that leaks internals. */
function checkLogs(logs: string[], from: number, r: FuzzRequest) {
  for (const line of logs.slice(from)) {
    const entry = JSON.parse(line) as { level: number; msg?: string };
    if (entry.level >= 50) throw new Error(`error logged: ${line.slice(0, 300)} <- ${r.label}`);
    if (LEAK.test(line)) throw new Error(`leak in log: ${line.slice(0, 300)} <- ${r.label}`);
  }
}

const endpoints: {
  name: string;
  path: (k: Known) => fc.Arbitrary<string>;
  methods: string[];
  profile?: Profile;
}[] = [
  { name: 'POST /token', path: () => pathAround('/token'), methods: ['POST'] },
  { name: 'POST /introspect', path: () => pathAround('/introspect'), methods: ['POST'] },
  { name: 'POST /revoke', path: () => pathAround('/revoke'), methods: ['POST'] },
  { name: 'GET /me', path: () => pathAround('/me'), methods: ['GET'] },
  { name: 'POST /logout', path: () => pathAround('/logout'), methods: ['POST'] },
  { name: 'GET /authorize', path: () => pathAround('/authorize'), methods: ['GET'], profile: 'authorize' },
  { name: 'POST /authorize', path: () => pathAround('/authorize'), methods: ['POST'], profile: 'authorize' },
  {
    name: 'admin clients routes',
    path: (k) =>
      fc.oneof(
        pathAround('/admin/clients'),
        pathsWithParam(
          ['/admin/clients/:param', '/admin/clients/:param/disable', '/admin/clients/:param/rotate-secret'],
          k,
          [k.victimClientId],
        ),
      ),
    methods: ['GET', 'POST', 'PATCH'],
    profile: 'admin',
  },
  {
    name: 'admin users and sessions routes',
    path: (k) =>
      fc.oneof(
        pathAround('/admin/users'),
        pathsWithParam(
          [
            '/admin/users/:param',
            '/admin/users/:param/disable',
            '/admin/users/:param/password',
            '/admin/users/:param/sessions',
          ],
          k,
          [k.victimUserId],
        ),
        pathWithParam('/admin/sessions/:param', k, [k.victimSessionId]),
      ),
    methods: ['GET', 'POST', 'DELETE'],
    profile: 'admin',
  },
  {
    name: 'admin consents routes',
    path: (k) =>
      fc.oneof(
        pathWithParam('/admin/users/:param/consents', k, [k.victimUserId]),
        pathWithParam(`/admin/users/${k.victimUserId}/consents/:param`, k, [k.victimClientId]),
      ),
    methods: ['GET', 'DELETE'],
    profile: 'admin',
  },
  {
    name: '/register and /register/{client_id}',
    path: (k) => fc.oneof(pathAround('/register'), pathWithParam('/register/:param', k, [k.victimClientId])),
    methods: ['POST', 'GET', 'PUT', 'DELETE'],
    profile: 'admin',
  },
  { name: 'GET /admin/audit', path: () => pathAround('/admin/audit'), methods: ['GET'], profile: 'admin' },
  // After the other admin routes: a revoked signing key ends the fuzzer's admin token.
  { name: 'GET /admin/keys', path: () => pathAround('/admin/keys'), methods: ['GET'], profile: 'admin' },
  {
    name: 'POST /admin/keys/rotate',
    path: () => pathAround('/admin/keys/rotate'),
    methods: ['POST'],
    profile: 'admin',
  },
  {
    name: 'POST /admin/keys/{kid}/revoke',
    path: (k) => pathWithParam('/admin/keys/:param/revoke', k),
    methods: ['POST'],
  },
  {
    name: 'GET metadata, JWKS, health',
    path: () =>
      fc
        .constantFrom(
          '/.well-known/oauth-authorization-server',
          '/.well-known/jwks.json',
          '/healthz',
          '/readyz',
          '/metrics',
        )
        .chain(pathAround),
    methods: ['GET'],
  },
];

test.after.always('close the fuzzed server', async () => {
  if (fixture) await (await fixture).s.close();
});

for (const endpoint of endpoints) {
  const title = `fuzz ${endpoint.name}: never a 5xx, a stack trace or SQL, in a body or a log line`;
  test.serial(title, async (t) => {
    const { s, known, logs } = await setup();
    const started = Date.now();
    const result = await fc.check(
      fc.asyncProperty(
        request(known, endpoint.path(known), endpoint.methods, endpoint.profile),
        async (r) => {
          const from = logs.length;
          checkAnswer(await send(s, r), r);
          checkLogs(logs, from, r);
        },
      ),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    t.log(`${result.numRuns} runs in ${Date.now() - started} ms (seed ${result.seed})`);
    // The failing request's label, not fast-check's dump of every byte of it.
    const failure = result.errorInstance instanceof Error ? result.errorInstance.message : '';
    t.false(result.failed, `seed ${result.seed} path ${result.counterexamplePath}: ${failure}`);
  });
}

test.serial('after the fuzzing the server is healthy: ready, and a real login still works', async (t) => {
  const { s, known } = await setup();
  t.is((await fetch(`${s.url}/readyz`)).status, 200);
  const login = await fetch(`${s.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: known.publicClientId,
      username: known.username,
      password: known.password,
    }),
  });
  t.is(login.status, 200);
});
