import type { TestServer } from './app.js';
import { basic, createClient, postForm, readAnswer, type TestClient } from './oauth.js';

/** The admin areas of docs/admin.md; `admin` allows them all. */
export type AdminScope = 'admin' | 'admin:keys' | 'admin:clients' | 'admin:users' | 'admin:audit';

export interface AdminCaller {
  client: TestClient;
  token: string;
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<AdminResponse>;
}

export interface AdminResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

/** Any bearer call to the API: JSON in (when a body is given), JSON out. */
export async function bearerCall(
  s: TestServer,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<AdminResponse> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, ...(await readAnswer(res)) };
}

/** An admin client (client_credentials, --admin) holding a token with exactly `scope`. */
export async function adminCaller(s: TestServer, scope: AdminScope | string = 'admin'): Promise<AdminCaller> {
  const client = await createClient(s, {
    name: `ops ${scope}`,
    grantTypes: ['client_credentials'],
    isAdmin: true,
  });
  const res = await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials', scope },
    { authorization: basic(client.client_id, client.client_secret ?? '') },
  );
  if (res.status !== 200) throw new Error(`admin token request failed: ${JSON.stringify(res.body)}`);
  const token = res.body.access_token as string;
  return {
    client,
    token,
    call: (method, path, body, headers) => bearerCall(s, token, method, path, body, headers),
  };
}

/** The audit events of a type, newest first, read straight from the trail. */
export async function auditOf(
  s: TestServer,
  type: string,
  filter: { username?: string; clientId?: string } = {},
) {
  return (await s.services.audit.list({ type: type as never, ...filter, limit: 100 })).events;
}
