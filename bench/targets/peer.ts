// Peer target: node-oidc-provider, configured for the grants the bench compares. Client
// `bench-jwt` gets ES256 JWT access tokens through client_credentials (like Tessera's);
// `bench-opaque` gets its default opaque tokens, which are what it can introspect.
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const RESOURCE = 'https://api.bench.test';
const secret = 'bench-peer-secret-0123456789abcdefghijklmnop';
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'peer-es256', alg: 'ES256', use: 'sig' };
const client = (id: string) => ({
  client_id: id,
  client_secret: secret,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  scope: 'read',
  // Its default (RS256) needs an RSA key; the bench signs everything with ES256.
  id_token_signed_response_alg: 'ES256' as const,
});

const provider = new Provider('http://127.0.0.1', {
  clients: [client('bench-jwt'), client('bench-opaque')],
  jwks: { keys: [jwk] },
  scopes: ['read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx: unknown, c: { clientId: string }) =>
        c.clientId === 'bench-jwt' ? RESOURCE : undefined,
      getResourceServerInfo: () => ({
        scope: 'read',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
      useGrantedResource: () => true,
    },
  },
});
// Bench traffic is expected; its own error log would only slow it down.
provider.on('server_error', () => {});

const server = provider.listen(0, '127.0.0.1');
server.on('listening', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ url: `http://127.0.0.1:${port}`, secret });
});
process.on('disconnect', () => process.exit(0));
