import test, { type ExecutionContext } from 'ava';
import { testClock, useServer } from '../helpers/app.js';
import { createClient, createUser, passwordLogin } from '../helpers/oauth.js';
import { refresh, revoke } from '../helpers/sessions.js';

type Server = Awaited<ReturnType<typeof useServer>>;

const API = 'https://api.example.com';
const OTHER_API = 'https://other.example.com';

/** A login with the narrow scope `read` on a client that could ask for more. */
async function ownerLogin(s: Server) {
  const owner = await createClient(s, {
    name: 'owner',
    scopes: ['read', 'write'],
    audiences: [API, OTHER_API],
  });
  const user = await createUser(s);
  const res = await passwordLogin(s, owner, user.username, user.password, { scope: 'read' });
  if (res.status !== 200) throw new Error(JSON.stringify(res.body));
  return { owner, user, refreshToken: res.body.refresh_token as string };
}

/** A well-formed refresh token that was never issued. */
const randomRefreshToken = () =>
  Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');

// RFC 6749 §5.2 / RFC 6819 §5.2.2.3: a refresh token bound to another client must look exactly like
// one that does not exist. Checking scope (§6) or resource (RFC 8707 §2) against its family first
// would tell the presenter that the stolen token is live.
test("another client's refresh token answers exactly like a random token: plain, wider scope, unknown resource", async (t) => {
  const s = await useServer(t);
  const { owner, refreshToken } = await ownerLogin(s);
  const thief = await createClient(s, {
    name: 'thief',
    scopes: ['read', 'write'],
    audiences: [API, OTHER_API],
  });
  const publicThief = await createClient(s, {
    name: 'public thief',
    isPublic: true,
    scopes: ['read', 'write'],
    audiences: [API, OTHER_API],
  });

  const variants: [string, Record<string, string>][] = [
    ['plain', {}],
    ['wider scope', { scope: 'read write' }],
    ['unknown resource', { resource: 'https://evil.example.com' }],
    ['wider scope and unknown resource', { scope: 'read write', resource: 'https://evil.example.com' }],
  ];
  for (const caller of [thief, publicThief]) {
    for (const [label, extra] of variants) {
      const baseline = await refresh(s, caller, randomRefreshToken(), extra);
      t.is(baseline.status, 400, label);
      t.is(baseline.body.error, 'invalid_grant', label);
      const stolen = await refresh(s, caller, refreshToken, extra);
      t.is(stolen.status, baseline.status, label);
      t.deepEqual(stolen.body, baseline.body, label);
      t.is(stolen.headers.get('content-type'), baseline.headers.get('content-type'), label);
      t.is(stolen.headers.get('cache-control'), 'no-store', label);
    }
  }
  // None of that touched the owner's token.
  t.is((await refresh(s, owner, refreshToken)).status, 200);
});

const PROBES: [string, Record<string, string>][] = [
  ['wider scope', { scope: 'read write' }],
  ['unknown resource', { resource: 'https://evil.example.com' }],
];

/** Each probe with `token` answers exactly what the same probe with a never-issued token answers. */
async function assertLooksUnknown(
  t: ExecutionContext,
  s: Server,
  client: Parameters<typeof refresh>[1],
  token: string,
  label: string,
) {
  for (const [probe, extra] of PROBES) {
    const baseline = await refresh(s, client, randomRefreshToken(), extra);
    const res = await refresh(s, client, token, extra);
    t.is(res.status, 400, `${label}, ${probe}`);
    t.deepEqual(res.body, baseline.body, `${label}, ${probe}`);
  }
}

// The same rule for the caller's own tokens that refresh would refuse anyway: a spent (outside the
// leeway), revoked or expired token is invalid_grant before any scope or resource check.
test('own spent, revoked or expired refresh tokens answer like a random token, even with a wider scope', async (t) => {
  const clock = testClock();
  const s = await useServer(t, { now: clock.now });

  const spent = await ownerLogin(s);
  const child = await refresh(s, spent.owner, spent.refreshToken);
  t.is(child.status, 200);
  await assertLooksUnknown(t, s, spent.owner, spent.refreshToken, 'spent');
  // Presenting the spent token was reuse (RFC 9700 §4.14.2), wider scope or not: the family is gone.
  t.is((await refresh(s, spent.owner, child.body.refresh_token as string)).body.error, 'invalid_grant');

  const revoked = await ownerLogin(s);
  t.is((await revoke(s, revoked.owner, revoked.refreshToken)).status, 200);
  await assertLooksUnknown(t, s, revoked.owner, revoked.refreshToken, 'revoked');

  const expired = await ownerLogin(s);
  clock.advance(s.services.config.refreshTokenIdleTtl + 1);
  await assertLooksUnknown(t, s, expired.owner, expired.refreshToken, 'expired');
});

// The grant's own check, not the account service's session purge, must refuse a disabled user:
// an operator or a replica may set disabled_at without going through UserAccounts.disable.
test('a user disabled directly in the database cannot refresh, and the family ends', async (t) => {
  const s = await useServer(t);
  const { owner, user, refreshToken } = await ownerLogin(s);
  await s.services.db('users').where({ id: user.id }).update({ disabled_at: new Date() });

  const res = await refresh(s, owner, refreshToken);
  t.is(res.status, 400, String(res.body.error));
  t.is(res.body.error, 'invalid_grant');
  t.false('access_token' in res.body);
  const families = await s.services.db('refresh_families').where({ user_id: user.id });
  t.is(families.length, 1);
  t.not(families[0].revoked_at, null);
  t.is(families[0].revoked_reason, 'user_disabled');

  // Enabling the user again does not bring the ended session back.
  await s.services.db('users').where({ id: user.id }).update({ disabled_at: null });
  t.is((await refresh(s, owner, refreshToken)).body.error, 'invalid_grant');
});
