import { BlockList, isIP } from 'node:net';

/**
 * Addresses a metadata-document fetch may connect to (docs/mcp.md, "SSRF"): public unicast only.
 * The ranges are the IANA special-purpose registries (RFC 6890 and its updates) — everything that
 * reaches this host, its private networks, link-local services such as cloud metadata at
 * 169.254.169.254, shared CGN space, documentation and benchmarking ranges, multicast and reserved.
 */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  // NAT64 and 6to4 embed an IPv4 address that could be private: refused rather than unwrapped.
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** `::ffff:10.0.0.1` is 10.0.0.1 on the wire (RFC 4291 §2.5.5.2): judged as the IPv4 address. */
function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m?.[1]) return { address: m[1], family: 'ipv4' };
  return { address, family: isIP(address) === 4 ? 'ipv4' : 'ipv6' };
}

export type AddressVerdict = 'public' | 'loopback' | 'non_public';

export function classifyAddress(raw: string): AddressVerdict {
  if (isIP(raw) === 0) return 'non_public';
  const { address, family } = unmapped(raw);
  if (LOOPBACK.check(address, family)) return 'loopback';
  // Any other IPv4-mapped form (hex-written) is not a public address either.
  if (family === 'ipv6' && /^::ffff:/i.test(address)) return 'non_public';
  return NON_PUBLIC.check(address, family) ? 'non_public' : 'public';
}

/** Public, or loopback while CIMD_ALLOW_LOOPBACK is set (development and tests only). */
export const addressAllowed = (address: string, allowLoopback: boolean) => {
  const verdict = classifyAddress(address);
  return verdict === 'public' || (verdict === 'loopback' && allowLoopback);
};

/** CIMD_ALLOWED_HOSTS: `*` any host, `*.example.com` any subdomain of it, else the exact name. */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase();
  return allowed.some((a) => a === '*' || a === h || (a.startsWith('*.') && h.endsWith(a.slice(1))));
}
