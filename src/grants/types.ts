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

/** One grant per module: its name and its handler, registered in grants/registry.ts. */
export interface GrantHandler {
  grantType: GrantType;
  handle(request: GrantRequest): Promise<TokenResponseBody>;
}
