import type { Context, Next } from 'koa';
import { invalidClient, invalidRequest } from '../errors.js';
import type { EventBus } from '../events.js';
import { emitSignal } from '../facts/publisher.js';
import type { ClientRecord, ClientStore } from '../stores/types.js';
import { secretMatches, sha256 } from '../tokens/secrets.js';
import { STRICT_UTF8 } from '../utf8.js';
import { params } from './params.js';
import { requestState } from './request_state.js';
import { decodeFormComponent } from './strict_input.js';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'none',
];

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientAuthMethod;
}

// Compared against when the client is unknown, so unknown ids cost the same as wrong secrets.
const DUMMY_DIGEST = sha256('tessera-no-such-client');

/**
 * RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined and base64-encoded
 * (RFC 7617). Undefined unless the bytes are UTF-8 and both parts decode to clean text: a NUL or
 * an invalid byte in a client id must never reach a database lookup.
 */
export function decodeBasic(header: string): { id: string; secret: string } | undefined {
  const m = /^Basic[ \t]+([A-Za-z0-9+/=._~-]+)[ \t]*$/i.exec(header);
  if (!m?.[1]) return undefined;
  let decoded: string;
  try {
    decoded = STRICT_UTF8.decode(Buffer.from(m[1], 'base64'));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const id = decodeFormComponent(decoded.slice(0, colon));
  const secret = decodeFormComponent(decoded.slice(colon + 1));
  return id === undefined || secret === undefined ? undefined : { id, secret };
}

/**
 * Authenticates the client with exactly one method (RFC 6749 §2.3): Basic, secret in the body, or
 * `none` for public clients identified by client_id. Sets `requestState(ctx).client`.
 */
export function authenticateClient(deps: { clients: ClientStore; events: EventBus }) {
  const fail = (clientId: string | undefined, reason: string, usedBasic: boolean) => {
    emitSignal(deps.events, 'client.auth_failed', { clientId, reason });
    return invalidClient(reason, usedBasic);
  };

  return async function clientAuthentication(ctx: Context, next: Next): Promise<void> {
    const p = params(ctx);
    const authorization = ctx.get('authorization');
    const usesBasic = /^Basic\b/i.test(authorization);
    if (authorization && !usesBasic) {
      throw invalidRequest('unsupported Authorization scheme for client authentication');
    }
    const postSecret = p.get('client_secret');
    const postId = p.get('client_id');

    let method: ClientAuthMethod;
    let clientId: string | undefined;
    let secret: string | undefined;
    if (usesBasic) {
      // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
      if (postSecret !== undefined) throw invalidRequest('more than one client authentication method');
      const basic = decodeBasic(authorization);
      if (!basic) throw fail(undefined, 'malformed Basic credentials', true);
      if (postId !== undefined && postId !== basic.id)
        throw invalidRequest('client_id does not match the credentials');
      method = 'client_secret_basic';
      clientId = basic.id;
      secret = basic.secret;
    } else if (postSecret !== undefined) {
      method = 'client_secret_post';
      clientId = postId;
      secret = postSecret;
      if (clientId === undefined) throw fail(undefined, 'client_secret without client_id', false);
    } else {
      method = 'none';
      clientId = postId;
      if (clientId === undefined) throw fail(undefined, 'no client authentication', false);
    }

    if (clientId.length > 256) throw fail(undefined, 'client_id too long', usesBasic);
    const client = await deps.clients.findById(clientId);
    if (method === 'none') {
      if (!client || client.disabledAt || client.secretHash !== null) {
        throw fail(clientId, client?.disabledAt ? 'client disabled' : 'client must authenticate', false);
      }
    } else {
      const ok = secretMatches(secret ?? '', client?.secretHash ?? DUMMY_DIGEST);
      if (!client || !ok || client.secretHash === null || client.disabledAt) {
        const reason = !client ? 'unknown client' : client.disabledAt ? 'client disabled' : 'bad secret';
        throw fail(clientId, reason, usesBasic);
      }
    }
    requestState(ctx).client = { client, method };
    return next();
  };
}

export function authenticatedClient(ctx: Context): AuthenticatedClient {
  const { client } = requestState(ctx);
  if (!client) throw new Error('authenticateClient must run first');
  return client;
}
