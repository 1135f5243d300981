import type { ClientRecord, NewClient } from '../../src/stores/types.js';

/** A public client record with server defaults, for unit tests that need a client but no database. */
export function newClient(id: string, over: Partial<NewClient> = {}): NewClient {
  return {
    id,
    name: id,
    secretHash: null,
    grantTypes: ['password'],
    scopes: ['read'],
    audiences: ['http://tessera.test'],
    audienceIsDefault: false,
    canIntrospect: false,
    isAdmin: false,
    accessTokenTtl: null,
    refreshTokenIdleTtl: null,
    refreshTokenMaxAge: null,
    refreshReuseLeeway: null,
    redirectUris: [],
    allowedOrigins: [],
    refreshCookie: false,
    dpopBoundAccessTokens: false,
    ...over,
  };
}

/** The same as a stored record (enabled, created at the epoch). */
export const clientRecord = (id: string, over: Partial<ClientRecord> = {}): ClientRecord => ({
  ...newClient(id),
  kind: 'first_party',
  disabledAt: null,
  createdAt: new Date(0),
  ...over,
});
