import type { Params } from '../http/params.js';
import type { AuditStamp, ClientRecord, GrantType } from '../stores/types.js';

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
  /** The request's X-Request-Id, for the audit trail. */
  requestId?: string;
}

/** The audit stamp of a grant: the client acted, from this IP, in this request. */
export const grantStamp = (request: GrantRequest): AuditStamp => ({
  actor: request.client.id,
  ip: request.ip,
  requestId: request.requestId ?? null,
});

/** One grant per module: its name and its handler, registered in grants/registry.ts. */
export interface GrantHandler {
  grantType: GrantType;
  handle(request: GrantRequest): Promise<TokenResponseBody>;
}
