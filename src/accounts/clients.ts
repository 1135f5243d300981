import { randomBytes } from 'node:crypto';
import { OAuthError } from '../errors.js';
import { parseScope } from '../grants/scope.js';
import { type ClientRecord, type ClientStore, GRANT_TYPES, type GrantType } from '../stores/types.js';
import { randomToken, sha256 } from '../tokens/secrets.js';
import { browserRegistration, RegistrationError } from './browser_registration.js';
import { AccountError } from './users.js';

export interface NewClientInput {
  name: string;
  grantTypes?: GrantType[];
  scopes?: string[];
  audiences?: string[];
  isPublic?: boolean;
  canIntrospect?: boolean;
  isAdmin?: boolean;
  /** Exact redirect URIs of the authorization code flow (RFC 6749 §3.1.2). */
  redirectUris?: string[];
  /** Browser origins allowed to call /token, /revoke and /logout with credentials. */
  allowedOrigins?: string[];
  /** Cookie mode: the refresh token only in an HttpOnly cookie (docs/browser-apps.md). */
  refreshCookie?: boolean;
}

/** A client's default grants (docs/cli.md, `clients create`). */
export const DEFAULT_GRANTS: GrantType[] = ['password', 'refresh_token'];
/** Least privilege: a client asks for more scopes only when created with them. */
export const DEFAULT_SCOPES = ['read'];

/** The public view of a client (never the secret hash). */
export function describeClient(c: ClientRecord) {
  return {
    client_id: c.id,
    name: c.name,
    public: c.secretHash === null,
    grant_types: c.grantTypes,
    scopes: c.scopes,
    audiences: c.audiences,
    introspect: c.canIntrospect,
    admin: c.isAdmin,
    redirect_uris: c.redirectUris,
    allowed_origins: c.allowedOrigins,
    refresh_cookie: c.refreshCookie,
    disabled: c.disabledAt !== null,
    created_at: c.createdAt.toISOString(),
  };
}

export class ClientAccounts {
  constructor(
    private readonly deps: {
      clients: ClientStore;
      issuer: string;
      now: () => number;
      /** Ends every session issued to the client (wired by the refresh-session module). */
      endSessions?: (clientId: string, reason: string) => Promise<void>;
    },
  ) {}

  /** Returns the secret exactly once; only its SHA-256 digest is stored. */
  async create(input: NewClientInput): Promise<{ client_id: string; client_secret?: string }> {
    const name = input.name.trim();
    if (name === '' || name.length > 200) throw new AccountError('invalid', 'name must be 1-200 characters');
    const grantTypes = [...new Set(input.grantTypes ?? DEFAULT_GRANTS)];
    const unknown = grantTypes.find((g) => !GRANT_TYPES.includes(g));
    if (unknown) throw new AccountError('invalid', `unknown grant "${unknown}"`);
    if (input.isPublic && grantTypes.includes('client_credentials'))
      throw new AccountError('invalid', 'a public client cannot use client_credentials');
    if (input.isPublic && (input.isAdmin || input.canIntrospect))
      throw new AccountError('invalid', 'a public client cannot be --admin or --introspect');
    let scopes: string[];
    try {
      scopes = input.scopes && input.scopes.length > 0 ? parseScope(input.scopes.join(' ')) : DEFAULT_SCOPES;
    } catch (err) {
      if (err instanceof OAuthError)
        throw new AccountError('invalid', 'scopes must be RFC 6749 scope tokens');
      throw err;
    }
    if (scopes.includes('admin')) throw new AccountError('invalid', 'use --admin instead of the admin scope');
    const audiences =
      input.audiences && input.audiences.length > 0 ? [...new Set(input.audiences)] : [this.deps.issuer];
    for (const a of audiences) {
      if (!URL.canParse(a) || a.includes('#'))
        throw new AccountError('invalid', `audience "${a}" is not an absolute URI`);
    }
    let browser: ReturnType<typeof browserRegistration>;
    try {
      browser = browserRegistration({ ...input, grantTypes });
    } catch (err) {
      if (err instanceof RegistrationError) throw new AccountError('invalid', err.message);
      throw err;
    }
    const secret = input.isPublic ? undefined : randomToken(32);
    const client = await this.deps.clients.create({
      // 128 random bits: unguessable ids add a layer even though ids are not secrets.
      id: `c_${randomBytes(16).toString('base64url')}`,
      name,
      secretHash: secret === undefined ? null : sha256(secret),
      grantTypes,
      scopes,
      audiences,
      canIntrospect: input.canIntrospect ?? false,
      isAdmin: input.isAdmin ?? false,
      accessTokenTtl: null,
      refreshTokenIdleTtl: null,
      refreshTokenMaxAge: null,
      refreshReuseLeeway: null,
      ...browser,
    });
    return secret === undefined ? { client_id: client.id } : { client_id: client.id, client_secret: secret };
  }

  async list() {
    return (await this.deps.clients.list()).map(describeClient);
  }

  async disable(clientId: string) {
    const ok = await this.deps.clients.disable(clientId, new Date(this.deps.now()));
    if (!ok) throw new AccountError('not_found', `no client ${clientId}`);
    await this.deps.endSessions?.(clientId, 'client_disabled');
    return { client_id: clientId, disabled: true };
  }
}
