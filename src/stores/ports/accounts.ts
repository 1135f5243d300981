/** Users and clients: their records and stores (docs/admin.md). */

export const GRANT_TYPES = ['authorization_code', 'password', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export interface UserRecord {
  id: string;
  username: string;
  passwordHash: string;
  roles: string[];
  passwordChangedAt: Date;
  disabledAt: Date | null;
  createdAt: Date;
}

/**
 * Who made the client: an admin (`first_party`), RFC 7591 dynamic registration (`dynamic`), or
 * a Client ID Metadata Document fetched at use (`metadata_document`, never stored). Third-party
 * kinds get the limits and the consent page of docs/mcp.md.
 */
export type ClientKind = 'first_party' | 'dynamic' | 'metadata_document';

export interface ClientRecord {
  id: string;
  name: string;
  kind: ClientKind;
  /** SHA-256 of the secret, base64url; null for public clients. */
  secretHash: string | null;
  grantTypes: GrantType[];
  scopes: string[];
  /**
   * The audiences of its tokens. For a client registered without any this is [ISSUER as
   * configured now] (`audienceIsDefault`), never the ISSUER of the day it was created.
   */
  audiences: string[];
  /** Registered without --audience: its audience follows the ISSUER (docs/security.md). */
  audienceIsDefault: boolean;
  canIntrospect: boolean;
  isAdmin: boolean;
  accessTokenTtl: number | null;
  refreshTokenIdleTtl: number | null;
  refreshTokenMaxAge: number | null;
  refreshReuseLeeway: number | null;
  /** RFC 6749 §3.1.2: the exact redirect URIs of the authorization code flow. */
  redirectUris: string[];
  /** Web origins (scheme://host[:port]) answered with CORS credentials on /token, /revoke, /logout. */
  allowedOrigins: string[];
  /** Cookie mode: the refresh token travels only in an HttpOnly cookie (docs/browser-apps.md). */
  refreshCookie: boolean;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request must carry a DPoP proof. */
  dpopBoundAccessTokens: boolean;
  disabledAt: Date | null;
  createdAt: Date;
}

export type NewUser = Pick<UserRecord, 'id' | 'username' | 'passwordHash' | 'roles'>;
export type NewClient = Omit<ClientRecord, 'disabledAt' | 'createdAt' | 'kind'> & { kind?: ClientKind };
/** The fields an admin may change on a registered client (never its id or secret). */
export type ClientChanges = Partial<
  Pick<
    ClientRecord,
    | 'name'
    | 'grantTypes'
    | 'scopes'
    | 'audiences'
    | 'redirectUris'
    | 'allowedOrigins'
    | 'refreshCookie'
    | 'dpopBoundAccessTokens'
  >
>;

/** Keyset pagination in creation order: the page after the record with this creation time and id. */
export interface PageQuery {
  limit: number;
  after?: { createdAt: Date; id: string };
}

export interface UserStore {
  create(user: NewUser): Promise<UserRecord>;
  findByUsername(username: string): Promise<UserRecord | undefined>;
  findById(id: string): Promise<UserRecord | undefined>;
  /** Returns false if no such user. */
  disable(id: string, at: Date): Promise<boolean>;
  setPasswordHash(id: string, passwordHash: string, at: Date): Promise<boolean>;
  count(): Promise<number>;
  /** Oldest first. */
  page(query: PageQuery): Promise<UserRecord[]>;
}

export interface ClientStore {
  create(client: NewClient): Promise<ClientRecord>;
  findById(id: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** Oldest first. */
  page(query: PageQuery): Promise<ClientRecord[]>;
  disable(id: string, at: Date): Promise<boolean>;
  /** Returns the changed record, or undefined if no such client. */
  update(id: string, changes: ClientChanges): Promise<ClientRecord | undefined>;
  /** Replaces the secret digest; false if no such client. */
  setSecretHash(id: string, secretHash: string): Promise<boolean>;
  count(): Promise<number>;
}
