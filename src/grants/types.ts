import type { Params } from '../http/params.js';
import type { ClientRecord, GrantType } from '../stores/types.js';

/** RFC 6749 §5.1 successful response. */
export interface TokenResponseBody {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

export interface GrantRequest {
  client: ClientRecord;
  params: Params;
  /** Client IP (X-Forwarded-For only when TRUST_PROXY). */
  ip: string;
}

/** One grant per module: its name, the parameters it reads, its handler (STYLE: node-oidc-provider). */
export interface GrantHandler {
  grantType: GrantType;
  params: readonly string[];
  handle(request: GrantRequest): Promise<TokenResponseBody>;
}

/** Only the client's own lifetime overrides are read here. */
export const accessTokenTtl = (client: ClientRecord, fallback: number) => client.accessTokenTtl ?? fallback;
