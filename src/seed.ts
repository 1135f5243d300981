import { randomBytes } from 'node:crypto';
import type { Services } from './compose.js';

/** The seed needs the two account services and the stores it counts. */
export type SeedDeps = Pick<Services, 'users' | 'clients' | 'userAccounts' | 'clientAccounts'>;

export interface DemoCredentials {
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
}

/**
 * Embedded first start only (docs/configuration.md): a demo client and user so the quick start works with no
 * setup. Runs only when both tables are empty, so the credentials are printed exactly once.
 */
export async function seedDemo(services: SeedDeps): Promise<DemoCredentials | undefined> {
  if ((await services.users.count()) > 0 || (await services.clients.count()) > 0) return undefined;
  const password = randomBytes(12).toString('base64url');
  await services.userAccounts.create('demo', password, ['user']);
  const client = await services.clientAccounts.create({
    name: 'Demo client',
    grantTypes: ['password', 'refresh_token', 'client_credentials'],
    scopes: ['read', 'write'],
  });
  return {
    clientId: client.client_id,
    clientSecret: client.client_secret as string,
    username: 'demo',
    password,
  };
}

export function formatDemoCredentials(c: DemoCredentials, issuer: string): string {
  return [
    '',
    '  Tessera created a demo client and user (shown once; they are not stored in clear):',
    `    client_id:     ${c.clientId}`,
    `    client_secret: ${c.clientSecret}`,
    `    username:      ${c.username}`,
    `    password:      ${c.password}`,
    '',
    '  Try it:',
    `    curl -s -u '${c.clientId}:${c.clientSecret}' -d grant_type=password \\`,
    `      -d username=${c.username} --data-urlencode 'password=${c.password}' ${issuer.replace(/\/$/, '')}/token`,
    '',
  ].join('\n');
}
