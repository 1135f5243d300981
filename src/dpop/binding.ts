import type { ClientRecord } from '../stores/types.js';

/** What a verified DPoP proof binds a token request's tokens to. */
export interface DpopBinding {
  /** RFC 7638 thumbprint of the client's key. */
  jkt: string;
}

/**
 * RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key, since nothing else
 * stops a stolen one. A confidential client authenticates on every refresh, so its refresh tokens
 * stay unbound (and it may change keys); its access tokens are bound all the same. docs/dpop.md.
 */
export const refreshBinding = (client: ClientRecord, dpop: DpopBinding | undefined) =>
  client.secretHash === null ? dpop?.jkt : undefined;
