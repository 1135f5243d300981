import type { Context } from 'koa';
import { invalidRequest, OAuthError } from '../errors.js';
import { requestStamp } from '../facts/stamp.js';
import { bearerClaims } from '../http/bearer.js';
import { jsonDocument } from '../http/input.js';
import { type KeyLifecycle, KeyLifecycleError } from '../keys/lifecycle.js';

export interface AdminKeysDeps {
  keyLifecycle: Pick<KeyLifecycle, 'list' | 'rotate' | 'revoke'>;
}

function readForce(value: unknown): boolean {
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw invalidRequest('"force" must be a boolean');
}

/**
 * The rotate body is `{"force": true}` (or the form `force=true`), read by the route's input step
 * (http/input.ts readJsonOrFormBody). An empty body means `{"force": false}`.
 */
function rotateForce(ctx: Context): boolean {
  const body = jsonDocument(ctx);
  const unknown = Object.keys(body).find((k) => k !== 'force');
  if (unknown) throw invalidRequest(`unknown parameter "${unknown}"`);
  return readForce(body.force);
}

/** Maps lifecycle refusals to the admin API's errors (openapi.yaml AdminError). */
function lifecycleError(err: unknown): unknown {
  if (!(err instanceof KeyLifecycleError)) return err;
  if (err.code === 'unknown_key') return new OAuthError('not_found', 'no key with this kid');
  return new OAuthError(
    'rotation_refused',
    err.forceable ? `${err.message}; send {"force": true} to rotate now` : err.message,
  );
}

/** GET /admin/keys: every key with its state, never private material. */
export function listKeys(deps: AdminKeysDeps) {
  return async function listKeys(ctx: Context): Promise<void> {
    ctx.body = { keys: await deps.keyLifecycle.list() };
  };
}

/** POST /admin/keys/rotate (docs/keys.md): refused while the retiring key may be cached. */
export function rotateKeys(deps: AdminKeysDeps) {
  return async function rotateKeys(ctx: Context): Promise<void> {
    try {
      const stamp = requestStamp(ctx, bearerClaims(ctx).client_id);
      ctx.body = { keys: await deps.keyLifecycle.rotate({ force: rotateForce(ctx), audit: stamp }) };
    } catch (err) {
      throw lifecycleError(err);
    }
  };
}

/** POST /admin/keys/{kid}/revoke: the key leaves JWKS at once. */
export function revokeKey(deps: AdminKeysDeps) {
  return async function revokeKey(ctx: Context): Promise<void> {
    try {
      const stamp = requestStamp(ctx, bearerClaims(ctx).client_id);
      ctx.body = { keys: await deps.keyLifecycle.revoke(String(ctx.params.kid), stamp) };
    } catch (err) {
      throw lifecycleError(err);
    }
  };
}
