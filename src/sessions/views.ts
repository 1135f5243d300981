import type { SessionKind } from '../facts/facts.js';
import type { LoginSessionRecord, RefreshFamily } from '../stores/types.js';

/** One line of a session list (`sessions list`, GET /admin/users/{id}/sessions). */
export interface SessionView {
  kind: SessionKind;
  id: string;
  /** Refresh families belong to a client; a login session of /authorize to the browser. */
  clientId: string | null;
  scope: string | null;
  audience: string[] | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date;
}

/**
 * A user's live sessions of both kinds, newest first: refresh families (with their last use) and
 * login sessions of /authorize, as the two stores list them.
 */
export function sessionViews(
  families: readonly (RefreshFamily & { lastUsedAt: Date })[],
  logins: readonly LoginSessionRecord[],
): SessionView[] {
  const views: SessionView[] = [
    ...families.map((f) => ({
      kind: 'refresh' as const,
      id: f.id,
      clientId: f.clientId,
      scope: f.scope,
      audience: f.audience,
      createdAt: f.createdAt,
      lastUsedAt: f.lastUsedAt,
      expiresAt: f.expiresAt,
    })),
    ...logins.map((l) => ({
      kind: 'login' as const,
      id: l.id,
      clientId: null,
      scope: null,
      audience: null,
      createdAt: l.createdAt,
      lastUsedAt: null,
      expiresAt: l.expiresAt,
    })),
  ];
  return views.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
}

/** The wire shape of a session list entry, the same in the admin API and the CLI. */
export const describeSession = (v: SessionView) => ({
  kind: v.kind,
  session_id: v.id,
  client_id: v.clientId,
  scope: v.scope,
  audience: v.audience,
  created_at: v.createdAt.toISOString(),
  last_used_at: v.lastUsedAt?.toISOString() ?? null,
  expires_at: v.expiresAt.toISOString(),
});
