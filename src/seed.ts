import { randomBytes } from 'node:crypto';
import type { Services } from './compose.js';

/** The seed needs the two account services and the stores it counts. */
export type SeedDeps = Pick<Services, 'users' | 'clients' | 'userAccounts' | 'clientAccounts'>;

/**
 * The demo API's audience (RFC 8707 §2: an absolute URI). A URN, so it can never be mistaken for a
 * real deployment's API or collide with the ISSUER.
 */
export const DEMO_API_AUDIENCE = 'urn:tessera:demo-api';

export interface DemoCredentials {
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
  /** A resource server: may introspect the demo client's tokens (docs/endpoints.md, introspection). */
  apiClientId: string;
  apiClientSecret: string;
  apiAudience: string;
}

/**
 * Embedded first start only (docs/configuration.md): a demo client, user and resource server so the
 * quick start works with no setup. The demo client's tokens carry both the ISSUER (so /me accepts
 * them) and the demo API's audience (so the demo API may introspect them: a caller sees only tokens
 * for one of its audiences). Runs only when both tables are empty, so the credentials are printed
 * exactly once.
 */
export async function seedDemo(services: SeedDeps, issuer: string): Promise<DemoCredentials | undefined> {
  if ((await services.users.count()) > 0 || (await services.clients.count()) > 0) return undefined;
  const password = randomBytes(12).toString('base64url');
  await services.userAccounts.create('demo', password, ['user']);
  const client = await services.clientAccounts.create({
    name: 'Demo client',
    grantTypes: ['password', 'refresh_token', 'client_credentials'],
    scopes: ['read', 'write'],
    audiences: [issuer, DEMO_API_AUDIENCE],
  });
  const api = await services.clientAccounts.create({
    name: 'Demo API',
    grantTypes: ['client_credentials'],
    scopes: ['read'],
    audiences: [DEMO_API_AUDIENCE],
    canIntrospect: true,
  });
  return {
    clientId: client.client_id,
    clientSecret: client.client_secret as string,
    username: 'demo',
    password,
    apiClientId: api.client_id,
    apiClientSecret: api.client_secret as string,
    apiAudience: DEMO_API_AUDIENCE,
  };
}

export function formatDemoCredentials(c: DemoCredentials, issuer: string): string {
  const base = issuer.replace(/\/$/, '');
  return [
    '',
    '  Tessera created a demo client, user and API (shown once; they are not stored in clear):',
    `    client_id:     ${c.clientId}`,
    `    client_secret: ${c.clientSecret}`,
    `    username:      ${c.username}`,
    `    password:      ${c.password}`,
    `  The demo API (a resource server that may introspect the demo client's tokens, audience ${c.apiAudience}):`,
    `    client_id:     ${c.apiClientId}`,
    `    client_secret: ${c.apiClientSecret}`,
    '',
    '  Try it:',
    `    curl -s -u '${c.clientId}:${c.clientSecret}' -d grant_type=password \\`,
    `      -d username=${c.username} --data-urlencode 'password=${c.password}' ${base}/token`,
    '  then, with the access_token as $TOKEN:',
    `    curl -s -u '${c.apiClientId}:${c.apiClientSecret}' --data-urlencode "token=$TOKEN" ${base}/introspect`,
    '',
  ].join('\n');
}
