import test from 'ava';
import { useServer } from '../helpers/app.js';
import { assertOAuthError, createClient, createUser, passwordLogin } from '../helpers/oauth.js';

// The test process plays the load balancer (the socket peer, 127.0.0.1): it appends the real
// client's address as the rightmost X-Forwarded-For entry; anything left of it the client wrote.
const via = (clientWrote: string | undefined, realClient: string) => ({
  'x-forwarded-for': clientWrote ? `${clientWrote}, ${realClient}` : realClient,
});

test('behind one proxy, X-Forwarded-For entries the client writes do not bypass the login limits', async (t) => {
  const s = await useServer(t, { env: { TRUST_PROXY: '1', RATE_LIMIT_LOGIN_FAILURES: '10' } });
  const app = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const u = await createUser(s, 'spoof');
  const attacker = '203.0.113.7';
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) {
    const res = await passwordLogin(s, app, u.username, 'wrong password', {}, via(`10.9.${i}.1`, attacker));
    statuses.push(res.status);
  }
  t.deepEqual(statuses.slice(0, 10), Array(10).fill(400));
  t.deepEqual(statuses.slice(10), [429, 429]);
  assertOAuthError(
    t,
    await passwordLogin(s, app, u.username, u.password, {}, via('10.9.99.1', attacker)),
    429,
    'rate_limited',
  );
  // The real user, from elsewhere, is not locked out by the attacker.
  t.is((await passwordLogin(s, app, u.username, u.password, {}, via(undefined, '198.51.100.9'))).status, 200);
});

test("writing a victim's address does not lock the victim out", async (t) => {
  const s = await useServer(t, {
    env: { TRUST_PROXY: '10.0.0.0/8, 127.0.0.1', RATE_LIMIT_LOGIN_FAILURES: '3' },
  });
  const app = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const u = await createUser(s, 'victim');
  const victim = '198.51.100.9';
  for (let i = 0; i < 6; i++) {
    await passwordLogin(s, app, u.username, 'wrong password', {}, via(victim, '203.0.113.66'));
  }
  // Two trusted hops (an internal proxy, then the peer): the victim's own request still gets in.
  t.is(
    (await passwordLogin(s, app, u.username, u.password, {}, { 'x-forwarded-for': `${victim}, 10.1.2.3` }))
      .status,
    200,
  );
});

test('TRUST_PROXY=false: X-Forwarded-For is ignored entirely', async (t) => {
  const s = await useServer(t, { env: { RATE_LIMIT_LOGIN_FAILURES: '2' } });
  const app = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const u = await createUser(s, 'direct');
  for (let i = 0; i < 2; i++) {
    await passwordLogin(s, app, u.username, 'wrong password', {}, { 'x-forwarded-for': `10.9.${i}.1` });
  }
  assertOAuthError(
    t,
    await passwordLogin(s, app, u.username, u.password, {}, { 'x-forwarded-for': '10.9.50.1' }),
    429,
    'rate_limited',
  );
});
