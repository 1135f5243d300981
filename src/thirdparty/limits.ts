import type { ThirdPartyConfig } from '../config.js';
import { isAdminScope } from '../grants/scope.js';
import type { ClientRecord, GrantType } from '../stores/types.js';

/**
 * What a client no admin created may do (docs/mcp.md, "Third-party limits"): the code flow and
 * refresh only, scopes from THIRD_PARTY_SCOPES, audiences from THIRD_PARTY_AUDIENCES (plus the
 * ISSUER, the audience of a request without `resource`), never admin, introspection or cookie mode.
 * Applied every time the record is read, so narrowing a setting narrows every existing client.
 */
export const THIRD_PARTY_GRANTS: readonly GrantType[] = ['authorization_code', 'refresh_token'];

export type ThirdPartySettings = Pick<ThirdPartyConfig, 'scopes' | 'audiences'> & { issuer: string };

/**
 * What no third-party client may have, whatever it asks for: introspection, admin scopes, its own
 * lifetimes, browser origins or cookie mode. Both ways in (registration, metadata documents) start
 * from this record.
 */
export const THIRD_PARTY_FIXED = {
  canIntrospect: false,
  isAdmin: false,
  accessTokenTtl: null,
  refreshTokenIdleTtl: null,
  refreshTokenMaxAge: null,
  refreshReuseLeeway: null,
  allowedOrigins: [],
  refreshCookie: false,
} as const satisfies Partial<ClientRecord>;

export const isThirdParty = (client: Pick<ClientRecord, 'kind'>) => client.kind !== 'first_party';

export function thirdPartyView(record: ClientRecord, settings: ThirdPartySettings): ClientRecord {
  return {
    ...record,
    grantTypes: record.grantTypes.filter((g) => THIRD_PARTY_GRANTS.includes(g)),
    scopes: record.scopes.filter((s) => settings.scopes.includes(s) && !isAdminScope(s)),
    audiences: [...new Set([settings.issuer, ...settings.audiences])],
    audienceIsDefault: false,
    isAdmin: false,
    canIntrospect: false,
    refreshCookie: false,
    allowedOrigins: [],
    // Lifetimes are the server's; nothing a registration says can lengthen them.
    accessTokenTtl: null,
    refreshTokenIdleTtl: null,
    refreshTokenMaxAge: null,
    refreshReuseLeeway: null,
  };
}

/**
 * RFC 8707 for third-party clients (docs/mcp.md): without `resource` the token is for the ISSUER
 * only, never for every API the setting lists.
 */
export const thirdPartyDefaultAudience = (issuer: string) => [issuer];
