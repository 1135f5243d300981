import type { IncomingMessage } from 'node:http';
import test from 'ava';
import { loadConfig } from '../../src/config.js';
import { resolveClientIp, trustFunction } from '../../src/http/client_ip.js';

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
