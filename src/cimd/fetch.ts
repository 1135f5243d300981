import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { addressAllowed, hostAllowed } from './address.js';

/**
 * The SSRF-safe GET of a Client ID Metadata Document (docs/mcp.md, "SSRF"): https only, the host
 * in CIMD_ALLOWED_HOSTS, every resolved address public (loopback only with CIMD_ALLOW_LOOPBACK),
 * the connection pinned to the address that was checked, no redirects, a deadline and a size cap.
 */
export interface FetchPolicy {
  allowedHosts: readonly string[];
  allowLoopback: boolean;
  /** The whole exchange, connect to last byte. */
  timeoutMs: number;
  maxBytes: number;
  /** Extra trusted CA certificates (tests with a self-signed server; production uses the system's). */
  ca?: string | Buffer;
}

export const DEFAULT_FETCH_POLICY = { timeoutMs: 5000, maxBytes: 16 * 1024 } as const;

export type FetchFailure =
  | 'not_https'
  | 'host_not_allowed'
  | 'address_not_allowed'
  | 'redirect'
  | 'status'
  | 'too_large'
  | 'timeout'
  | 'unreachable';

export class MetadataFetchError extends Error {
  constructor(
    readonly reason: FetchFailure,
    message: string,
  ) {
    super(message);
    this.name = 'MetadataFetchError';
  }
}

export interface FetchedDocument {
  /** Raw bytes: decoded strictly by the validator (invalid UTF-8 is an invalid document). */
  body: Buffer;
  contentType: string;
  cacheControl: string;
  expires: string;
  date: string;
}

/**
 * Resolves like dns.lookup but fails unless every address is allowed. The socket connects to
 * the address returned here, so what was checked is what is used: a DNS answer that changes
 * between the check and the connect (rebinding) cannot swap in another address.
 */
function checkedLookup(allowLoopback: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const refused = addresses.find((a) => !addressAllowed(a.address, allowLoopback));
      if (addresses.length === 0 || refused !== undefined) {
        const e = new MetadataFetchError('address_not_allowed', 'the host resolves to a non-public address');
        return callback(e as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const [first] = addresses as [LookupAddress];
      callback(null, first.address, first.family);
    });
  };
}

/** Throws unless the URL may be fetched at all (before any DNS query). */
export function checkTarget(url: URL, policy: FetchPolicy): void {
  if (url.protocol !== 'https:')
    throw new MetadataFetchError('not_https', 'the client_id must be an https URL');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostAllowed(host, policy.allowedHosts))
    throw new MetadataFetchError('host_not_allowed', 'this host is not allowed to serve client metadata');
  // An address literal is never looked up, so it is judged here.
  if (isIP(host) !== 0 && !addressAllowed(host, policy.allowLoopback))
    throw new MetadataFetchError('address_not_allowed', 'the host is a non-public address');
}

export function fetchMetadataDocument(url: URL, policy: FetchPolicy): Promise<FetchedDocument> {
  checkTarget(url, policy);
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, doc?: FetchedDocument) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (err) {
        req.destroy();
        reject(
          err instanceof MetadataFetchError
            ? err
            : new MetadataFetchError('unreachable', 'the client metadata document could not be fetched'),
        );
      } else resolve(doc as FetchedDocument);
    };
    const req = request({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port === '' ? 443 : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': 'Tessera (client metadata)' },
      lookup: checkedLookup(policy.allowLoopback),
      agent: false,
      ...(policy.ca === undefined ? {} : { ca: policy.ca }),
    });
    const deadline = setTimeout(
      () => finish(new MetadataFetchError('timeout', 'the client metadata document took too long')),
      policy.timeoutMs,
    );
    // The address actually connected to, checked again: the lookup above is the control, this
    // is the proof (an address literal, or any path that bypassed the lookup, ends here).
    req.on('socket', (socket: Socket) => {
      socket.once('secureConnect', () => {
        const remote = socket.remoteAddress;
        if (remote === undefined || !addressAllowed(remote, policy.allowLoopback))
          finish(new MetadataFetchError('address_not_allowed', 'the host is a non-public address'));
      });
    });
    req.on('error', (err) => finish(err));
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400)
        return finish(new MetadataFetchError('redirect', 'the client metadata document redirects'));
      if (status !== 200)
        return finish(new MetadataFetchError('status', `the client metadata document answered ${status}`));
      const tooLarge = new MetadataFetchError('too_large', 'the client metadata document is too large');
      if (Number(res.headers['content-length'] ?? 0) > policy.maxBytes) return finish(tooLarge);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > policy.maxBytes) return finish(tooLarge);
        chunks.push(chunk);
      });
      res.on('error', (err) => finish(err));
      res.on('end', () =>
        finish(undefined, {
          body: Buffer.concat(chunks),
          contentType: String(res.headers['content-type'] ?? ''),
          cacheControl: String(res.headers['cache-control'] ?? ''),
          expires: String(res.headers.expires ?? ''),
          date: String(res.headers.date ?? ''),
        }),
      );
    });
    req.end();
  });
}
