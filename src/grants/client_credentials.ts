import { OAuthError } from '../errors.js';
import type { FactPublisher } from '../facts/publisher.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';
import { issueAccessToken } from './issue_token.js';
import { ADMIN_SCOPES, resolveAudience, resolveScope } from './scope.js';
import type { GrantHandler } from './types.js';

export interface ClientCredentialsDeps {
  minter: AccessTokenMinter;
  /** After the work is done: its facts to events, metrics and logs. */
  publisher: Pick<FactPublisher, 'published'>;
  accessTokenTtl: number;
}

/** RFC 6749 §4.4. `sub` is the client id (docs/sessions.md); never a refresh token (RFC 6749 §4.4.3). */
export function clientCredentialsGrant(deps: ClientCredentialsDeps): GrantHandler {
  return {
    grantType: 'client_credentials',
    async handle({ client, params, dpop }) {
      // Public clients hold no credential, so they cannot use a grant that is only the credential.
      if (client.secretHash === null) {
        throw new OAuthError('unauthorized_client', 'public clients cannot use client_credentials');
      }
      const allowed = client.isAdmin ? [...client.scopes, ...ADMIN_SCOPES] : client.scopes;
      // Least privilege: the admin scopes are granted only when asked for by name.
      const scope = resolveScope(params.get('scope'), allowed, client.scopes);
      const audience = resolveAudience(params.get('resource'), client);
      return issueAccessToken(deps, {
        grantType: 'client_credentials',
        client,
        subject: client.id,
        clientId: client.id,
        audience,
        scope,
        dpop,
      });
    },
  };
}
