import type { DpopBinding } from '../dpop/binding.js';
import type { Params } from '../http/params.js';
import type { AuditStamp, ClientRecord, GrantType } from '../stores/types.js';

/** RFC 6749 §5.1 successful response. */
export interface TokenResponseBody {
  access_token: string;
  /** RFC 9449 §5: `DPoP` when the access token is bound to the client's key. */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

export interface GrantRequest {
  client: ClientRecord;
  params: Params;
  /** Client IP (X-Forwarded-For only when TRUST_PROXY). */
  ip: string;
  /** The request's audit stamp (src/facts/stamp.ts): the client acted, from this IP, in this request. */
  stamp: AuditStamp;
  /** The key of the request's verified DPoP proof (src/dpop/token_proof.ts), if it sent one. */
  dpop?: DpopBinding;
}

/** One grant per module: its name and its handler, registered in grants/registry.ts. */
export interface GrantHandler {
  grantType: GrantType;
  handle(request: GrantRequest): Promise<TokenResponseBody>;
}
