import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Context, Next } from 'koa';
import proxyaddr from 'proxy-addr';
import type { TrustProxy } from '../config.js';
import { requestState } from './request_state.js';

/** Decides, per hop from the socket outwards, whether that address is a proxy we put there. */
export type TrustFunction = (address: string, hop: number) => boolean;

/**
 * The trust function of a TRUST_PROXY setting. A hop count trusts the socket peer and the next
 * n-1 X-Forwarded-For entries counted from the right; a list trusts exactly those addresses.
 */
export function trustFunction(setting: TrustProxy): TrustFunction {
  if (setting === false) return () => false;
  if ('hops' in setting) {
    const { hops } = setting;
    return (_address, hop) => hop < hops;
  }
  return proxyaddr.compile(setting.proxies);
}

/**
 * The client's address: walking X-Forwarded-For from the right (the entry our own proxy appended)
 * to the left, the first address that is not a trusted proxy. Entries left of it were written by
 * the client or by proxies we do not control, so they never count (a client that sends
 * `X-Forwarded-For: <victim>` gets its own address, not the victim's).
 */
export function resolveClientIp(req: IncomingMessage, trust: TrustFunction): string {
  if (!req.socket.remoteAddress) return 'unknown';
  // proxy-addr implements exactly this walk (it is Express's `trust proxy`), and normalises
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) before comparing with IPv4 ranges.
  let address = proxyaddr(req, trust);
  if (address.startsWith('::ffff:') && address.includes('.')) address = address.slice(7);
  // Not an address at all means a hop count larger than the real chain reached text the client
  // wrote: fall back to the peer, so the client still cannot pick its own rate-limit key.
  return isIP(address) ? address : req.socket.remoteAddress;
}

/**
 * Resolves the client's address once per request from TRUST_PROXY, for the rate limits, logs and
 * audit: RequestState.clientIp, and Koa's `ctx.ip` set to the same value. Koa's own `proxy` mode
 * takes the leftmost X-Forwarded-For entry, which the client controls; it stays off.
 */
export function clientIp(setting: TrustProxy) {
  // No proxy trusted: the socket peer is the client, X-Forwarded-For is never read, and
  // proxy-addr's header parsing is skipped (the same answer resolveClientIp gives).
  const trust = setting === false ? undefined : trustFunction(setting);
  // Not async: nothing to await before the next step, so no promise of its own per request.
  return function resolveClientAddress(ctx: Context, next: Next): Promise<void> {
    const ip = trust ? resolveClientIp(ctx.req, trust) : peerAddress(ctx.req);
    requestState(ctx).clientIp = ip;
    ctx.request.ip = ip;
    return next();
  };
}

/** The socket peer, an IPv4-mapped IPv6 address (::ffff:10.0.0.1) as its IPv4 address. */
function peerAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress;
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The eight 16-bit groups of a valid IPv6 address (zone dropped, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address.split('%')[0] ?? address;
  const tailStart = text.lastIndexOf(':') + 1;
  const tail = text.slice(tailStart);
  if (tail.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, tailStart)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => Number.parseInt(g, 16));
}

/**
 * The address a rate limit counts (RATE_LIMIT_IPV6_PREFIX, docs/configuration.md): an IPv4
 * address as is; an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2) as the IPv4 address it carries;
 * any other IPv6 address as its network of `ipv6Prefix` bits, because one host usually holds a
 * whole /64 (RFC 6177) and would otherwise get a fresh budget per address.
 */
export function rateLimitAddress(ip: string, ipv6Prefix: number): string {
  if (isIP(ip) !== 6) return ip;
  const groups = ipv6Groups(ip);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  const masked = groups.map((g, i) => {
    const bits = Math.min(16, Math.max(0, ipv6Prefix - 16 * i));
    return g & (0xffff << (16 - bits)) & 0xffff;
  });
  return `${masked.map((g) => g.toString(16)).join(':')}/${ipv6Prefix}`;
}
