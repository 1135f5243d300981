import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { decodeJwt } from 'jose';
import { randomToken, sha256 } from '../../src/tokens/secrets.js';
import { type TestServer, testClock, useServer } from '../helpers/app.js';
import {
  assertOAuthError,
  basic,
  createClient,
  createResourceServer,
  createUser,
  introspect,
  passwordLogin,
  postForm,
  type TestClient,
} from '../helpers/oauth.js';

const API = 'https://api.example.com';
const OTHER = 'https://other.example.com';

async function setup(t: ExecutionContext, now?: () => number) {
  const s = await useServer(t, now ? { now } : {});
  const app = await createClient(s, {
    name: 'app',
    grantTypes: ['password', 'client_credentials', 'refresh_token'],
    scopes: ['read', 'write'],
    audiences: [API, OTHER],
  });
  const rs = await createResourceServer(s, [API]);
  const user = await createUser(s);
  return { s, app, rs, user };
}

async function login(
  s: TestServer,
  app: TestClient,
  user: { username: string; password: string },
  resource = API,
) {
  const res = await passwordLogin(s, app, user.username, user.password, { resource });
  if (res.status !== 200) throw new Error(JSON.stringify(res.body));
  return res.body.access_token as string;
}

function assertInactive(
  t: ExecutionContext,
  res: { status: number; headers: Headers; body: Record<string, unknown> },
  message?: string,
) {
  t.is(res.status, 200);
  t.deepEqual(res.body, { active: false }, message);
  t.is(res.headers.get('cache-control'), 'no-store');
}

/** Inserts a refresh family and one token directly (the refresh store lives in another module). */
async function insertRefresh(
  s: TestServer,
  input: {
    clientId: string;
    userId: string;
    now: number;
    tokenTtl?: number;
    familyTtl?: number;
    spent?: boolean;
    revoked?: boolean;
    audience?: string | string[];
  },
) {
  const familyId = randomUUID();
  const tokenId = randomUUID();
  const token = randomToken(32);
  const at = new Date(input.now - 1000);
  await s.services.db('refresh_families').insert({
    id: familyId,
    user_id: input.userId,
    client_id: input.clientId,
    scope: 'read',
    audience: JSON.stringify(input.audience ?? API),
    created_at: at,
    expires_at: new Date(input.now + (input.familyTtl ?? 3600) * 1000),
    revoked_at: input.revoked ? at : null,
  });
  await s.services.db('refresh_tokens').insert({
    id: tokenId,
    family_id: familyId,
    token_hash: sha256(token),
    client_id: input.clientId,
    created_at: at,
    expires_at: new Date(input.now + (input.tokenTtl ?? 600) * 1000),
    spent_at: input.spent ? at : null,
  });
  return { token, tokenId, familyId, iat: Math.floor(at.getTime() / 1000) };
}

test('active access token: exactly the RFC 7662 fields, no-store', async (t) => {
  const { s, app, rs, user } = await setup(t);
  const token = await login(s, app, user);
  const claims = decodeJwt(token);
  const res = await introspect(s, rs, token);
  t.is(res.status, 200);
  t.is(res.headers.get('cache-control'), 'no-store');
  t.is(res.headers.get('pragma'), 'no-cache');
  t.deepEqual(res.body, {
    active: true,
    scope: 'read write',
    client_id: app.client_id,
    username: user.username,
    sub: user.id,
    aud: API,
    iss: 'http://tessera.test',
    exp: claims.exp,
    iat: claims.iat,
    nbf: claims.nbf,
    jti: claims.jti,
    token_type: 'Bearer',
  });
});

test('client_credentials token: active without username; client_secret_post works too', async (t) => {
  const { s, app, rs } = await setup(t);
  const cc = await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials', resource: API },
    { authorization: basic(app.client_id, app.client_secret ?? '') },
  );
  const res = await postForm(`${s.url}/introspect`, {
    token: cc.body.access_token as string,
    client_id: rs.client_id,
    client_secret: rs.client_secret ?? '',
  });
  t.is(res.body.active, true);
  t.is(res.body.sub, app.client_id);
  t.false('username' in res.body);
});

test('expired access token is inactive (1 s leeway honoured)', async (t) => {
  const clock = testClock();
  const { s, app, rs, user } = await setup(t, clock.now);
  const token = await login(s, app, user);
  clock.advance(900);
  t.is((await introspect(s, rs, token)).body.active, true, 'at exp, within the 1 s tolerance');
  clock.advance(2);
  assertInactive(t, await introspect(s, rs, token));
});

test('revoked by jti and by sid: inactive', async (t) => {
  const { s, rs, app, user } = await setup(t);
  const token = await login(s, app, user);
  const { jti, exp } = decodeJwt(token);
  await s.services.denylist.add([
    { kind: 'jti', value: jti as string, expiresAt: new Date((exp as number) * 1000) },
  ]);
  assertInactive(t, await introspect(s, rs, token));

  const sid = randomUUID();
  const minted = await s.services.minter.mint({
    subject: user.id,
    clientId: app.client_id,
    audience: API,
    scope: 'read',
    ttl: 900,
    user: { username: user.username, roles: ['user'] },
    sid,
  });
  t.is((await introspect(s, rs, minted.token)).body.active, true);
  await s.services.denylist.add([{ kind: 'sid', value: sid, expiresAt: new Date(Date.now() + 3600_000) }]);
  assertInactive(t, await introspect(s, rs, minted.token));
});

test('foreign audience, garbage and tampered tokens: inactive', async (t) => {
  const { s, rs, app, user } = await setup(t);
  assertInactive(t, await introspect(s, rs, await login(s, app, user, OTHER)));
  assertInactive(t, await introspect(s, rs, 'garbage'));
  assertInactive(t, await introspect(s, rs, 'a.b.c'));
  assertInactive(t, await introspect(s, rs, 'x'.repeat(9000)));
  const token = await login(s, app, user);
  const [h, p] = token.split('.');
  assertInactive(t, await introspect(s, rs, `${h}.${p}.${'A'.repeat(86)}`));
});

test('token_type_hint is only a hint', async (t) => {
  const { s, rs, app, user } = await setup(t);
  const token = await login(s, app, user);
  t.is((await introspect(s, rs, token, { token_type_hint: 'refresh_token' })).body.active, true);
  t.is((await introspect(s, rs, token, { token_type_hint: 'bogus' })).body.active, true);
  const refresh = await insertRefresh(s, { clientId: rs.client_id, userId: user.id, now: Date.now() });
  t.is((await introspect(s, rs, refresh.token, { token_type_hint: 'access_token' })).body.active, true);
});

test('refresh tokens: owner sees them, others do not; spent, expired and revoked are inactive', async (t) => {
  const clock = testClock();
  const { s, rs, user } = await setup(t, clock.now);
  const now = clock.now();
  const live = await insertRefresh(s, {
    clientId: rs.client_id,
    userId: user.id,
    now,
    tokenTtl: 600,
    familyTtl: 3600,
    audience: [API],
  });
  const res = await introspect(s, rs, live.token);
  t.is(res.headers.get('cache-control'), 'no-store');
  t.deepEqual(res.body, {
    active: true,
    scope: 'read',
    client_id: rs.client_id,
    username: user.username,
    sub: user.id,
    aud: [API],
    iss: 'http://tessera.test',
    exp: Math.floor((now + 600_000) / 1000),
    iat: live.iat,
    nbf: live.iat,
    jti: live.tokenId,
    token_type: 'refresh_token',
  });
  // exp is the earlier of the token's idle expiry and the family's absolute expiry.
  const capped = await insertRefresh(s, {
    clientId: rs.client_id,
    userId: user.id,
    now,
    tokenTtl: 600,
    familyTtl: 60,
  });
  t.is((await introspect(s, rs, capped.token)).body.exp, Math.floor((now + 60_000) / 1000));

  // Another introspecting client must not see rs's refresh tokens.
  const other = await createClient(s, {
    name: 'rs2',
    grantTypes: ['client_credentials'],
    audiences: [API],
    canIntrospect: true,
  });
  assertInactive(t, await introspect(s, other, live.token));

  const spent = await insertRefresh(s, { clientId: rs.client_id, userId: user.id, now, spent: true });
  assertInactive(t, await introspect(s, rs, spent.token));
  const revoked = await insertRefresh(s, { clientId: rs.client_id, userId: user.id, now, revoked: true });
  assertInactive(t, await introspect(s, rs, revoked.token));
  clock.advance(61);
  assertInactive(t, await introspect(s, rs, capped.token), 'family absolute expiry');
  t.is((await introspect(s, rs, live.token)).body.active, true);
  clock.advance(600);
  assertInactive(t, await introspect(s, rs, live.token), 'idle expiry');
});

test('callers: unauthenticated 401, wrong secret 401 with Basic challenge, no flag 403, no token 400', async (t) => {
  const { s, app, rs, user } = await setup(t);
  const token = await login(s, app, user);
  assertOAuthError(t, await postForm(`${s.url}/introspect`, { token }), 401, 'invalid_client');
  const bad = await introspect(s, { client_id: rs.client_id, client_secret: 'wrong' }, token);
  assertOAuthError(t, bad, 401, 'invalid_client');
  t.regex(bad.headers.get('www-authenticate') ?? '', /^Basic/);
  assertOAuthError(t, await introspect(s, app, token), 403, 'access_denied');
  const spa = await createClient(s, { name: 'spa', isPublic: true, grantTypes: ['password'] });
  assertOAuthError(
    t,
    await postForm(`${s.url}/introspect`, { token, client_id: spa.client_id }),
    403,
    'access_denied',
  );
  assertOAuthError(t, await introspect(s, rs, ''), 400, 'invalid_request');
  assertOAuthError(
    t,
    await postForm(`${s.url}/introspect`, `token=${token}&token=${token}`, {
      authorization: basic(rs.client_id, rs.client_secret ?? ''),
    }),
    400,
    'invalid_request',
  );
});

test('a client registered without --audience introspects only its own tokens; the ISSUER audience must be registered explicitly', async (t) => {
  const s = await useServer(t);
  // Default audience (the ISSUER): a user app and an admin client.
  const app = await createClient(s, { name: 'default app', grantTypes: ['password'] });
  const admin = await createClient(s, { name: 'ops', grantTypes: ['client_credentials'], isAdmin: true });
  const user = await createUser(s);
  const userToken = (await passwordLogin(s, app, user.username, user.password)).body.access_token as string;
  const adminToken = (
    await postForm(
      `${s.url}/token`,
      { grant_type: 'client_credentials', scope: 'admin' },
      {
        authorization: basic(admin.client_id, admin.client_secret ?? ''),
      },
    )
  ).body.access_token as string;

  const rs = await createClient(s, {
    name: 'default rs',
    grantTypes: ['client_credentials'],
    canIntrospect: true,
  });
  const own = (
    await postForm(
      `${s.url}/token`,
      { grant_type: 'client_credentials' },
      {
        authorization: basic(rs.client_id, rs.client_secret ?? ''),
      },
    )
  ).body.access_token as string;
  t.deepEqual((await introspect(s, rs, userToken)).body, { active: false });
  t.deepEqual((await introspect(s, rs, adminToken)).body, { active: false });
  t.is((await introspect(s, rs, own)).body.active, true);

  // Registered for the ISSUER on purpose: it sees every token meant for Tessera itself.
  const wide = await createResourceServer(s, [s.services.config.issuer]);
  t.is((await introspect(s, wide, userToken)).body.active, true);
  t.is((await introspect(s, wide, adminToken)).body.active, true);
});

/** The count of one tessera_introspections_total sample on /metrics. */
async function introspections(s: TestServer, result: string, reason: string) {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const m = new RegExp(
    `^tessera_introspections_total\\{result="${result}",reason="${reason}"\\} (\\d+)$`,
    'm',
  ).exec(text);
  return Number(m?.[1] ?? 0);
}

test('an inactive answer stays {"active": false} for the caller; the operator sees why in the metrics', async (t) => {
  const { s, app, rs, user } = await setup(t);
  // A resource server registered without --audience: its audience is the ISSUER.
  const noAudience = await createClient(s, {
    name: 'introspector without audience',
    grantTypes: ['client_credentials'],
    canIntrospect: true,
  });
  const forApi = await login(s, app, user);
  const forOther = await login(s, app, user, OTHER);

  const seen = await introspect(s, noAudience, forApi);
  t.deepEqual(seen.body, { active: false });
  t.is(await introspections(s, 'inactive', 'wrong_audience'), 1);

  t.deepEqual((await introspect(s, rs, forOther)).body, { active: false });
  t.is(await introspections(s, 'inactive', 'wrong_audience'), 2);

  t.deepEqual((await introspect(s, rs, randomToken())).body, { active: false });
  t.is(await introspections(s, 'inactive', 'not_found'), 1);

  t.deepEqual((await introspect(s, rs, 'a.b.c')).body, { active: false });
  t.is(await introspections(s, 'inactive', 'malformed'), 1);

  t.true((await introspect(s, rs, forApi)).body.active as boolean);
  t.is(await introspections(s, 'active', 'none'), 1);

  // A default-audience token of another client: in the ISSUER's audience, but not the caller's own.
  const plain = await createClient(s, { name: 'plain app', grantTypes: ['password'] });
  const own = (await passwordLogin(s, plain, user.username, user.password)).body.access_token as string;
  t.deepEqual((await introspect(s, noAudience, own)).body, { active: false });
  t.is(await introspections(s, 'inactive', 'other_client'), 1);
});
