import { userScopes } from '../grants/scope.js';
import type { ClientRecord, RefreshFamily } from '../stores/types.js';

/** What a family may still carry: its own grant cut down to the client's record as it is now. */
export interface SessionBounds {
  scope: string[];
  audience: string[];
}

/**
 * Every refresh is bounded by the client as it is now (docs/sessions.md): a scope or audience
 * removed from the client is gone from the next token of every existing family, which keeps what
 * is still allowed. A client without registered audiences has one, the ISSUER as configured now,
 * and its families follow it. Undefined when no audience remains: the family has to end.
 */
export function boundByClient(
  family: Pick<RefreshFamily, 'scope' | 'audience'>,
  client: ClientRecord,
): SessionBounds | undefined {
  const allowedScopes = userScopes(client);
  const scope = family.scope.split(' ').filter((s) => s !== '' && allowedScopes.includes(s));
  const audience = client.audienceIsDefault
    ? [...client.audiences]
    : family.audience.filter((a) => client.audiences.includes(a));
  return audience.length === 0 ? undefined : { scope, audience };
}

/** True when the bounds took something away, so the family's record should be narrowed to them. */
export function narrows(family: Pick<RefreshFamily, 'scope' | 'audience'>, bounds: SessionBounds): boolean {
  return (
    bounds.scope.join(' ') !== family.scope.split(' ').filter(Boolean).join(' ') ||
    bounds.audience.join(' ') !== family.audience.join(' ')
  );
}
