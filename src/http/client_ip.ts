import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Context, Next } from 'koa';
import proxyaddr from 'proxy-addr';
import type { TrustProxy } from '../config.js';

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
 * Sets `ctx.ip` once per request from TRUST_PROXY, for the rate limits, logs and audit. Koa's own
 * `proxy` mode takes the leftmost X-Forwarded-For entry, which the client controls; it stays off.
 */
export function clientIp(setting: TrustProxy) {
  const trust = trustFunction(setting);
  return async function resolveIp(ctx: Context, next: Next): Promise<void> {
    ctx.request.ip = resolveClientIp(ctx.req, trust);
    await next();
  };
}
