import type { EventBus } from '../events.js';
import type { Params } from '../http/params.js';
import type { AuditStamp, ClientRecord, GrantType, UserRecord } from '../stores/types.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';

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

/** One grant per module: its name, the parameters it reads, its handler (STYLE: node-oidc-provider). */
export interface GrantHandler {
  grantType: GrantType;
  params: readonly string[];
  handle(request: GrantRequest): Promise<TokenResponseBody>;
}

/** Only the client's own lifetime overrides are read here. */
export const accessTokenTtl = (client: ClientRecord, fallback: number) => client.accessTokenTtl ?? fallback;

export interface UserTokenDeps {
  minter: AccessTokenMinter;
  events: EventBus;
  accessTokenTtl: number;
}

/**
 * The access token of a user session (password and refresh grants): RFC 9068 claims with the
 * user's name and roles and the session's `sid`, the `token.issued` event, and the §5.1 body.
 */
export async function issueUserToken(
  deps: UserTokenDeps,
  input: {
    grantType: GrantType;
    client: ClientRecord;
    user: UserRecord;
    audience: string | string[];
    scope: string;
    sid: string;
    refreshToken?: string;
  },
): Promise<TokenResponseBody> {
  const { client, user, sid } = input;
  const ttl = accessTokenTtl(client, deps.accessTokenTtl);
  const { token, kid } = await deps.minter.mint({
    subject: user.id,
    clientId: client.id,
    audience: input.audience,
    scope: input.scope,
    ttl,
    user: { username: user.username, roles: user.roles },
    sid,
  });
  deps.events.emit('token.issued', {
    grantType: input.grantType,
    clientId: client.id,
    sub: user.id,
    kid,
    sid,
  });
  return {
    access_token: token,
    token_type: 'Bearer',
    expires_in: ttl,
    scope: input.scope,
    ...(input.refreshToken === undefined ? {} : { refresh_token: input.refreshToken }),
  };
}
