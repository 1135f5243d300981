import { OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { AccessTokenMinter } from '../tokens/access_token.js';
import { ADMIN_SCOPES, resolveAudience, resolveScope } from './scope.js';
import { accessTokenTtl, type GrantHandler } from './types.js';

export interface ClientCredentialsDeps {
  minter: AccessTokenMinter;
  events: EventBus;
  accessTokenTtl: number;
}

/** RFC 6749 §4.4. `sub` is the client id (SPEC §5); never a refresh token (RFC 6749 §4.4.3). */
export function clientCredentialsGrant(deps: ClientCredentialsDeps): GrantHandler {
  return {
    grantType: 'client_credentials',
    params: ['scope', 'resource'],
    async handle({ client, params }) {
      // Public clients hold no credential, so they cannot use a grant that is only the credential.
      if (client.secretHash === null) {
        throw new OAuthError('unauthorized_client', 'public clients cannot use client_credentials');
      }
      const allowed = client.isAdmin ? [...client.scopes, ...ADMIN_SCOPES] : client.scopes;
      // Least privilege: the admin scopes are granted only when asked for by name.
      const scope = resolveScope(params.get('scope'), allowed, client.scopes);
      const audience = resolveAudience(params.get('resource'), client);
      const ttl = accessTokenTtl(client, deps.accessTokenTtl);
      const { token, kid } = await deps.minter.mint({
        subject: client.id,
        clientId: client.id,
        audience,
        scope,
        ttl,
      });
      deps.events.emit('token.issued', {
        grantType: 'client_credentials',
        clientId: client.id,
        sub: client.id,
        kid,
      });
      return { access_token: token, token_type: 'Bearer', expires_in: ttl, scope };
    },
  };
}
