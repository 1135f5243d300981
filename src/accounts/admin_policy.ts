import { CLI_STAMP, SYSTEM_STAMP } from '../audit/trail.js';
import { ADMIN_SCOPE } from '../grants/scope.js';
import type { AuditStamp } from '../stores/types.js';

/**
 * Who asks for an admin change: the audit stamp, and the privilege the caller holds. An admin API
 * caller holds the scopes of its token; the CLI, the embedded seed and the server's schedule run
 * with the operator's own authority over the database and hold everything.
 */
export interface AdminActor extends AuditStamp {
  privilege: 'all' | readonly string[];
}

export const CLI_ACTOR: AdminActor = { ...CLI_STAMP, privilege: 'all' };
export const SYSTEM_ACTOR: AdminActor = { ...SYSTEM_STAMP, privilege: 'all' };

/** An admin API caller holding exactly the scopes of its access token. */
export const tokenActor = (stamp: AuditStamp, scope: string): AdminActor => ({
  ...stamp,
  privilege: scope.split(' ').filter((s) => s !== ''),
});

export type ClientChange = 'create' | 'update' | 'disable' | 'rotate_secret';

const holdsEverything = (actor: AdminActor) =>
  actor.privilege === 'all' || actor.privilege.includes(ADMIN_SCOPE);

/**
 * docs/admin.md, "no call grants more than its caller holds": an admin client can mint tokens
 * with every admin scope, so creating one, or disabling, re-keying or changing one, is itself a
 * full-admin act. A caller with only `admin:clients` may manage ordinary clients, never these:
 * otherwise it would create an admin client (or take over the existing one by rotating its
 * secret) and escalate to `admin`. Returns the reason of a refusal, or undefined.
 */
export function clientChangeRefusal(
  actor: AdminActor,
  change: ClientChange,
  target: { isAdmin: boolean },
): string | undefined {
  if (!target.isAdmin || holdsEverything(actor)) return undefined;
  return change === 'create'
    ? `only the "${ADMIN_SCOPE}" scope may create an admin client`
    : `only the "${ADMIN_SCOPE}" scope may change an admin client`;
}
