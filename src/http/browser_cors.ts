import type { Context, Middleware, Next } from 'koa';
import { OAuthError } from '../errors.js';
import type { ClientRecord, ClientStore } from '../stores/types.js';
import { decodeBasic } from './client_auth.js';
import { params } from './params.js';
import { requestState } from './request_state.js';

/**
 * CORS for browser apps (docs/browser-apps.md), the one place Tessera decides who may read an
 * answer cross-origin. An answer is shared only with an origin registered for the client the
 * request names (client_id, Basic credentials, or the bearer token's client): never with another
 * client's origins, so one app cannot read the answers (or errors) of a request made for another.
 */

/** How long the set of registered origins is trusted: a new client's origin works within this. */
const ORIGINS_TTL_MS = 5000;

/** Headers a browser app may read from an answer (RFC 6750 challenges, rate-limit hints). */
const EXPOSED =
  'WWW-Authenticate, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, DPoP-Nonce';

const CORS_HEADERS = [
  'Access-Control-Allow-Origin',
  'Access-Control-Allow-Credentials',
  'Access-Control-Expose-Headers',
];

/** Every origin some client registered, read at most every ORIGINS_TTL_MS (preflights carry no client). */
export class RegisteredOrigins {
  private cached: { origins: Promise<Set<string>>; until: number } | undefined;

  constructor(
    private readonly listClients: () => Promise<ClientRecord[]>,
    private readonly now: () => number = Date.now,
  ) {}

  async has(origin: string): Promise<boolean> {
    if (!this.cached || this.cached.until <= this.now()) {
      const origins = this.listClients().then(
        (clients) => new Set(clients.filter((c) => !c.disabledAt).flatMap((c) => c.allowedOrigins)),
      );
      // A failed read is not cached: the next request tries again.
      origins.catch(() => {
        this.cached = undefined;
      });
      this.cached = { origins, until: this.now() + ORIGINS_TTL_MS };
    }
    return (await this.cached.origins).has(origin);
  }
}

/** The request's Origin when it is registered for `client` (an enabled one), else undefined. */
export function registeredOrigin(ctx: Context, client: ClientRecord | undefined): string | undefined {
  const origin = ctx.get('origin');
  if (!origin || !client || client.disabledAt) return undefined;
  return client.allowedOrigins.includes(origin) ? origin : undefined;
}

/**
 * Shares the answer with the request's Origin when it is registered for `client`, and withdraws
 * anything shared earlier otherwise. `credentials` only where cookies matter (/token, /revoke,
 * /logout); a bearer-only resource is shared without them.
 */
export function shareWithClient(
  ctx: Context,
  client: ClientRecord | undefined,
  options: { credentials: boolean } = { credentials: true },
): void {
  // The answer differs by Origin, so shared caches must key on it (Fetch standard, CORS protocol).
  ctx.vary('Origin');
  for (const h of CORS_HEADERS) ctx.remove(h);
  const origin = registeredOrigin(ctx, client);
  if (origin === undefined) return;
  ctx.set('Access-Control-Allow-Origin', origin);
  if (options.credentials) ctx.set('Access-Control-Allow-Credentials', 'true');
  ctx.set('Access-Control-Expose-Headers', EXPOSED);
}

/** The client a request names before it is authenticated: Basic credentials, else `client_id`. */
export function namedClientId(ctx: Context): string | undefined {
  const authorization = ctx.get('authorization');
  if (/^Basic\b/i.test(authorization)) return decodeBasic(authorization)?.id;
  return params(ctx).get('client_id');
}

/**
 * First step after the body is read at /token and /revoke (and /logout when it names its
 * client): CORS for the origins of the named client, so even an early error (client
 * authentication, a bad grant) is readable by the app that caused it and by no other.
 */
export function corsForNamedClient(clients: Pick<ClientStore, 'findById'>): Middleware {
  return async function cors(ctx: Context, next: Next): Promise<void> {
    const id = namedClientId(ctx);
    const client = id !== undefined && id.length <= 256 ? await clients.findById(id) : undefined;
    shareWithClient(ctx, client);
    return next();
  };
}

/**
 * After the bearer step of a bearer-only resource (/me): shared, without credentials, with the
 * origins of the verified token's client only. A failed bearer check is shared with nobody.
 */
export function corsForBearerClient(clients: Pick<ClientStore, 'findById'>): Middleware {
  return async function bearerCors(ctx: Context, next: Next): Promise<void> {
    const clientId = requestState(ctx).token?.claims.client_id;
    const client = clientId === undefined ? undefined : await clients.findById(clientId);
    shareWithClient(ctx, client, { credentials: false });
    return next();
  };
}

/**
 * CORS preflight (OPTIONS). A preflight names no client, so any registered origin passes here;
 * the real request is shared only with its own client's origins. `credentials` as for the answer.
 */
export function corsPreflight(
  origins: RegisteredOrigins,
  options: { methods: string; credentials: boolean },
): Middleware {
  return async function preflight(ctx: Context): Promise<void> {
    ctx.vary('Origin');
    const origin = ctx.get('origin');
    if (!origin || !(await origins.has(origin)))
      throw new OAuthError('invalid_request', 'this origin is not registered', { status: 403 });
    ctx.set('Access-Control-Allow-Origin', origin);
    if (options.credentials) ctx.set('Access-Control-Allow-Credentials', 'true');
    ctx.set('Access-Control-Allow-Methods', options.methods);
    // DPoP (docs/dpop.md): browser apps send proofs in the DPoP header.
    ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, DPoP');
    // Browsers cap this (Chromium at 2 h); 10 minutes keeps a removed origin from lingering.
    ctx.set('Access-Control-Max-Age', '600');
    ctx.status = 204;
  };
}
