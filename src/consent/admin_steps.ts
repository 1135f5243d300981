import type { Context, Middleware } from 'koa';
import { AccountError } from '../accounts/users.js';
import type { UserAccounts } from '../endpoints/admin_users.js';
import { OAuthError } from '../errors.js';
import { requestStamp } from '../facts/stamp.js';
import { bearerClaims } from '../http/bearer.js';
import type { Consents } from './consents.js';

export interface ConsentAdminDeps {
  consents: Pick<Consents, 'list' | 'revoke'>;
  userAccounts: Pick<UserAccounts, 'resolve'>;
}

/** GET /admin/users/{id}/consents and DELETE /admin/users/{id}/consents/{client_id} (docs/admin.md). */
export function adminConsentSteps(deps: ConsentAdminDeps) {
  const user = async (ctx: Context) => {
    try {
      return await deps.userAccounts.resolve({ id: String(ctx.params.id ?? '') });
    } catch (err) {
      if (err instanceof AccountError && err.code === 'not_found')
        throw new OAuthError('not_found', err.message);
      throw err;
    }
  };
  return {
    async listUserConsents(ctx: Context) {
      const u = await user(ctx);
      ctx.body = { user_id: u.id, consents: await deps.consents.list(u.id) };
    },
    /** Revoking ends that client's sessions of the user too (their sids are denylisted at once). */
    async revokeUserConsent(ctx: Context) {
      const u = await user(ctx);
      const clientId = String(ctx.params.client_id ?? '');
      if (clientId === '' || clientId.length > 2048) throw new OAuthError('not_found', 'no such consent');
      const stamp = requestStamp(ctx, bearerClaims(ctx).client_id);
      ctx.body = { user_id: u.id, ...(await deps.consents.revoke(u.id, clientId, stamp)) };
    },
  } satisfies Record<string, Middleware>;
}
