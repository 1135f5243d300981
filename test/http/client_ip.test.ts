import type { IncomingMessage } from 'node:http';
import test from 'ava';
import { loadConfig } from '../../src/config.js';
import { rateLimitAddress, resolveClientIp, trustFunction } from '../../src/http/client_ip.js';
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

test('N8: IPv6 clients are counted per /64 in the username+IP and the per-IP limits', async (t) => {
  const s = await useServer(t, {
    env: { TRUST_PROXY: '1', RATE_LIMIT_LOGIN_FAILURES: '3', RATE_LIMIT_IP_FAILURES_PER_HOUR: '6' },
  });
  const app = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const u = await createUser(s, 'six');
  const from = (address: string) => ({ 'x-forwarded-for': address });
  // One host, a new address of its /64 for every guess.
  for (const host of ['a', 'b', 'c']) {
    const res = await passwordLogin(s, app, u.username, 'wrong password', {}, from(`2001:db8:1:2::${host}`));
    assertOAuthError(t, res, 400, 'invalid_grant');
  }
  assertOAuthError(
    t,
    await passwordLogin(s, app, u.username, u.password, {}, from('2001:db8:1:2:ffff:ffff:ffff:fffe')),
    429,
    'rate_limited',
  );
  // Another /64 is another client.
  t.is((await passwordLogin(s, app, u.username, u.password, {}, from('2001:db8:1:3::1'))).status, 200);
  // Spraying usernames from fresh addresses of the /64 spends the one per-IP budget (3 spent above).
  for (let i = 0; i < 3; i++) {
    const res = await passwordLogin(
      s,
      app,
      `nobody${i}`,
      'wrong password',
      {},
      from(`2001:db8:1:2::${i + 1}:1`),
    );
    t.is(res.status, 400);
  }
  assertOAuthError(
    t,
    await passwordLogin(s, app, 'nobody-else', 'wrong password', {}, from('2001:db8:1:2:abcd::1')),
    429,
    'rate_limited',
  );
});

test('N8: an IPv4-mapped IPv6 address counts as the IPv4 address', async (t) => {
  const s = await useServer(t, { env: { TRUST_PROXY: '1', RATE_LIMIT_LOGIN_FAILURES: '2' } });
  const app = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const u = await createUser(s, 'mapped');
  const from = (address: string) => ({ 'x-forwarded-for': address });
  t.is((await passwordLogin(s, app, u.username, 'wrong', {}, from('203.0.113.7'))).status, 400);
  t.is((await passwordLogin(s, app, u.username, 'wrong', {}, from('::ffff:cb00:7107'))).status, 400);
  assertOAuthError(
    t,
    await passwordLogin(s, app, u.username, u.password, {}, from('::ffff:203.0.113.7')),
    429,
    'rate_limited',
  );
});

test('rateLimitAddress: IPv4 as is, IPv4-mapped as IPv4, IPv6 as its network of RATE_LIMIT_IPV6_PREFIX bits', (t) => {
  t.is(rateLimitAddress('203.0.113.7', 64), '203.0.113.7');
  t.is(rateLimitAddress('::ffff:203.0.113.7', 64), '203.0.113.7');
  t.is(rateLimitAddress('::ffff:cb00:7107', 64), '203.0.113.7');
  t.is(rateLimitAddress('0:0:0:0:0:FFFF:CB00:7107', 64), '203.0.113.7');
  const net = '2001:db8:1:2:0:0:0:0/64';
  for (const a of ['2001:db8:1:2::a', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:DB8:1:2::1.2.3.4']) {
    t.is(rateLimitAddress(a, 64), net, a);
  }
  t.is(rateLimitAddress('fe80::1%eth0', 64), 'fe80:0:0:0:0:0:0:0/64');
  t.is(rateLimitAddress('2001:db8:1:3::1', 64), '2001:db8:1:3:0:0:0:0/64');
  t.is(rateLimitAddress('2001:db8:1:2::a', 48), '2001:db8:1:0:0:0:0:0/48');
  t.is(rateLimitAddress('2001:db8:1:2::a', 56), '2001:db8:1:0:0:0:0:0/56');
  t.is(rateLimitAddress('2001:db8:1:2ff::a', 56), '2001:db8:1:200:0:0:0:0/56');
  t.is(rateLimitAddress('2001:db8::7', 127), '2001:db8:0:0:0:0:0:6/127');
  t.is(rateLimitAddress('2001:db8::7', 128), '2001:db8:0:0:0:0:0:7/128');
  t.is(rateLimitAddress('::1', 64), '0:0:0:0:0:0:0:0/64');
  t.is(rateLimitAddress('ffff::', 1), '8000:0:0:0:0:0:0:0/1');
  // Not an address (the resolution never produces one, but the key must not throw): unchanged.
  t.is(rateLimitAddress('unknown', 64), 'unknown');
});

// Unit: the resolution itself, per TRUST_PROXY form.
const req = (peer: string, xff?: string) =>
  ({
    socket: { remoteAddress: peer },
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  }) as unknown as IncomingMessage;

const ip = (trustProxy: string, peer: string, xff?: string) =>
  resolveClientIp(req(peer, xff), trustFunction(loadConfig({ TRUST_PROXY: trustProxy }).trustProxy));

test('TRUST_PROXY=false: the socket peer, whatever X-Forwarded-For says', (t) => {
  t.is(ip('false', '203.0.113.7', '10.0.0.1'), '203.0.113.7');
  t.is(ip('', '203.0.113.7', '10.0.0.1'), '203.0.113.7');
});

test('one hop: the entry the load balancer appended, never one the client wrote in front of it', (t) => {
  t.is(ip('1', '10.0.0.2', '203.0.113.7'), '203.0.113.7');
  t.is(ip('1', '10.0.0.2', '10.9.3.1, 203.0.113.7'), '203.0.113.7');
  t.is(ip('1', '10.0.0.2', '198.51.100.9,203.0.113.7'), '203.0.113.7');
  // No header: the peer itself (a health check from the balancer).
  t.is(ip('1', '10.0.0.2'), '10.0.0.2');
});

test('two hops (CDN + load balancer)', (t) => {
  t.is(ip('2', '10.0.0.2', 'spoofed, 203.0.113.7, 192.0.2.10'), '203.0.113.7');
});

test('a list of proxies: the rightmost address that is not one of them', (t) => {
  const list = '10.0.0.0/8, 192.0.2.10';
  t.is(ip(list, '10.0.0.2', '1.2.3.4, 203.0.113.7, 192.0.2.10'), '203.0.113.7');
  t.is(ip(list, '10.0.0.2', '203.0.113.7'), '203.0.113.7');
  // The peer is not a listed proxy: its header is the client's own writing.
  t.is(ip(list, '203.0.113.99', '10.0.0.5'), '203.0.113.99');
  t.is(ip('uniquelocal', '10.1.2.3', '1.2.3.4, 172.16.0.9'), '1.2.3.4');
  t.is(ip('loopback', '::1', '2001:db8::1'), '2001:db8::1');
});

test('IPv4-mapped peers and garbage entries', (t) => {
  t.is(ip('false', '::ffff:203.0.113.7'), '203.0.113.7');
  // A hop count longer than the real chain reaches client-written text: fall back to the peer.
  t.is(ip('3', '10.0.0.2', 'not-an-ip, 203.0.113.7'), '10.0.0.2');
});
