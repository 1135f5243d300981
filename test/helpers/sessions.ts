import type { TestServer } from './app.js';
import { basic, getJson, postForm, type TestClient } from './oauth.js';

const auth = (client: TestClient): Record<string, string> =>
  client.client_secret === undefined ? {} : { authorization: basic(client.client_id, client.client_secret) };
const publicId = (client: TestClient): Record<string, string> =>
  client.client_secret === undefined ? { client_id: client.client_id } : {};

/** grant_type=refresh_token with the client's own authentication method. */
export function refresh(s: TestServer, client: TestClient, refreshToken: string, extra = {}) {
  return postForm(
    `${s.url}/token`,
    { grant_type: 'refresh_token', refresh_token: refreshToken, ...publicId(client), ...extra },
    auth(client),
  );
}

/** POST /revoke (RFC 7009) authenticated as `client`. */
export function revoke(s: TestServer, client: TestClient, token: string, extra = {}) {
  return postForm(`${s.url}/revoke`, { token, ...publicId(client), ...extra }, auth(client));
}

export const me = (s: TestServer, accessToken: string) =>
  getJson(`${s.url}/me`, { authorization: `Bearer ${accessToken}` });

export async function logout(s: TestServer, accessToken: string) {
  const res = await fetch(`${s.url}/logout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}` },
  });
  await res.arrayBuffer();
  return res.status;
}
