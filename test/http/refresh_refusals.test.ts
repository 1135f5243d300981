import test from 'ava';
import { useServer } from '../helpers/app.js';
import { createClient, createUser, passwordLogin } from '../helpers/oauth.js';
import { refresh } from '../helpers/sessions.js';

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
