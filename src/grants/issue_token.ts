import type { DpopBinding } from '../dpop/binding.js';
import type { FactPublisher } from '../facts/publisher.js';
import type { ClientRecord, GrantType, UserRecord } from '../stores/types.js';
import type { AccessTokenMinter, MintInput } from '../tokens/access_token.js';
import type { TokenResponseBody } from './types.js';

/** The lifetime of an access token for `client`: its own override, else ACCESS_TOKEN_TTL. */
export const accessTokenLifetime = (client: ClientRecord, fallback: number) =>
  client.accessTokenTtl ?? fallback;

export interface IssueDeps {
  minter: AccessTokenMinter;
  /** After the work is done: its facts to events, metrics and logs. */
  publisher: Pick<FactPublisher, 'published'>;
  accessTokenTtl: number;
}

/**
 * Every grant ends here: mint the RFC 9068 access token with the client's lifetime (bound to the
 * DPoP key when the request proved one, RFC 9449 §6), publish
 * `token.issued`, answer the RFC 6749 §5.1 body (a refresh token only when one is given).
 */
export async function issueAccessToken(
  deps: IssueDeps,
  input: Omit<MintInput, 'ttl' | 'jkt'> & {
    grantType: GrantType;
    client: ClientRecord;
    refreshToken?: string;
    dpop?: DpopBinding;
  },
): Promise<TokenResponseBody> {
  const { grantType, client, refreshToken, dpop, ...claims } = input;
  const ttl = accessTokenLifetime(client, deps.accessTokenTtl);
  const { token, kid } = await deps.minter.mint({ ...claims, ttl, ...(dpop ? { jkt: dpop.jkt } : {}) });
  await deps.publisher.published([
    {
      type: 'token.issued',
      grantType,
      clientId: client.id,
      sub: claims.subject,
      kid,
      ...(claims.sid === undefined ? {} : { sid: claims.sid }),
    },
  ]);
  return {
    access_token: token,
    // RFC 9449 §5: a bound token is a DPoP token, to be presented with `Authorization: DPoP`.
    token_type: dpop ? 'DPoP' : 'Bearer',
    expires_in: ttl,
    scope: claims.scope,
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
  };
}

/**
 * The access token of a user session (password and refresh grants): the user's name and roles
 * and the session's `sid` as claims.
 */
export function issueUserToken(
  deps: IssueDeps,
  input: {
    grantType: GrantType;
    client: ClientRecord;
    user: UserRecord;
    audience: string | string[];
    scope: string;
    sid: string;
    refreshToken?: string;
    dpop?: DpopBinding;
  },
): Promise<TokenResponseBody> {
  const { user, ...rest } = input;
  return issueAccessToken(deps, {
    ...rest,
    subject: user.id,
    clientId: input.client.id,
    user: { username: user.username, roles: user.roles },
  });
}
