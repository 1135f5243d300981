import { type Answer, answerFor } from './challenge.js';
import { DPOP_ALGS, DpopVerifier } from './dpop.js';
import { RequestRefused } from './errors.js';
import type { ResourceServerOptions } from './options.js';
import { MemoryReplayCache } from './replay.js';
import { type AccessClaims, introspectionReader, jwksReader, type TokenReader } from './tokens.js';

/** What the kit needs of a request, whatever the framework. */
export interface KitRequest {
  method: string;
  /** The path as the client sent it, without the query (for DPoP `htu`). */
  path: string;
  authorization: string | undefined;
  /** Every `DPoP` header line (Node's `headersDistinct.dpop`). */
  dpop: readonly string[] | undefined;
}

/** RFC 9728 §2: the protected-resource metadata document. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  dpop_signing_alg_values_supported?: string[];
}

export interface ResourceServer {
  /** The verified claims, or a RequestRefused. `scopes` must all be granted. */
  authenticate(request: KitRequest, scopes?: readonly string[]): Promise<AccessClaims>;
  /** The answer for a refusal: 400/401/403/503 with its challenge and JSON body. */
  answer(refusal: RequestRefused): Answer;
  /** RFC 9728 §3.1: the path the metadata is served at. */
  readonly metadataPath: string;
  /** RFC 9728 §5.1: the absolute URL of the metadata, sent in every challenge. */
  readonly metadataUrl: string;
  readonly metadata: ProtectedResourceMetadata;
}

// RFC 6750 §2.1 b64token, case-insensitive scheme (RFC 9110 §11.1); never a query parameter (RFC 9700 §4.3.2).
const AUTHORIZATION = /^(Bearer|DPoP)[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/** RFC 9728 §3.1: the well-known segment goes between the host and the resource's path. */
function metadataPathFor(resource: URL): string {
  const path = resource.pathname === '/' ? '' : resource.pathname.replace(/\/$/, '');
  return `/.well-known/oauth-protected-resource${path}`;
}

export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  const now = options.now ?? Date.now;
  const resource = new URL(options.resource);
  const publicUrl = new URL(options.publicUrl ?? resource.origin);
  const read: TokenReader = options.introspection ? introspectionReader(options) : jwksReader(options);
  const dpopAlgs = options.dpop === false ? undefined : (options.dpop?.algorithms ?? [...DPOP_ALGS]);
  const dpop =
    options.dpop === false
      ? undefined
      : new DpopVerifier(
          options.dpop?.replayCache ?? new MemoryReplayCache(100_000, now),
          dpopAlgs ?? [],
          now,
        );
  const metadataPath = metadataPathFor(resource);
  const metadataUrl = `${publicUrl.origin}${metadataPath}`;
  const context = { realm: options.realm ?? 'api', resourceMetadata: metadataUrl, dpopAlgs };
  const metadata: ProtectedResourceMetadata = {
    resource: options.resource,
    authorization_servers: options.authorizationServers ?? [options.issuer],
    ...(options.scopesSupported ? { scopes_supported: options.scopesSupported } : {}),
    bearer_methods_supported: ['header'],
    ...(dpopAlgs ? { dpop_signing_alg_values_supported: dpopAlgs } : {}),
  };

  async function authenticate(request: KitRequest, scopes: readonly string[] = []): Promise<AccessClaims> {
    const header = request.authorization;
    if (!header) throw new RequestRefused({ kind: 'no_token' });
    const m = AUTHORIZATION.exec(header);
    if (!m) {
      // Another scheme (Basic, say) carries no token for this API; a broken Bearer/DPoP header is malformed.
      if (!/^(Bearer|DPoP)([ \t]|$)/i.test(header)) throw new RequestRefused({ kind: 'no_token' });
      throw new RequestRefused({ kind: 'invalid_request', reason: 'authorization header' });
    }
    const scheme = (m[1] as string).toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = m[2] as string;
    if (scheme === 'DPoP' && !dpop) throw new RequestRefused({ kind: 'no_token' });
    const claims = await read(token, scheme);
    const jkt = typeof claims.cnf?.jkt === 'string' ? claims.cnf.jkt : undefined;
    if (scheme === 'Bearer') {
      // RFC 9449 §7.2: a bound token is useless without its key, so never accept it as a bearer token.
      if (claims.cnf !== undefined)
        throw new RequestRefused({ kind: 'invalid_token', scheme: 'DPoP', reason: 'bound token as Bearer' });
    } else {
      if (!jkt || !dpop)
        throw new RequestRefused({ kind: 'invalid_token', scheme: 'DPoP', reason: 'unbound token as DPoP' });
      await dpop.verify({
        headers: request.dpop ?? [],
        method: request.method,
        uri: `${publicUrl.origin}${request.path}`,
        accessToken: token,
        jkt,
      });
    }
    const granted = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ') : []);
    if (!scopes.every((s) => granted.has(s)))
      throw new RequestRefused({ kind: 'insufficient_scope', scopes, scheme });
    return claims;
  }

  return {
    authenticate,
    answer: (refused) => answerFor(refused.refusal, context),
    metadataPath,
    metadataUrl,
    metadata,
  };
}
