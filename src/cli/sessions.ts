import { CLI_STAMP } from '../audit/trail.js';
import { describeSession, sessionViews } from '../sessions/views.js';
import { type Command, USERNAME } from './commands.js';

/** `tessera sessions ...`: session administration (docs/cli.md). */
export const sessionCommands: Record<string, Command> = {
  'sessions list': {
    summary:
      "the user's live sessions, refresh (session id = the sid claim, client, scope, last used) and login (signed in at /authorize): kind, created, expiry",
    options: [USERNAME],
    async run({ values, services }) {
      const username = values.username as string;
      const s = await services();
      const user = await s.userAccounts.find(username);
      const now = new Date(s.now());
      const [families, logins] = await Promise.all([
        s.refreshTokens.listLiveFamilies(user.id, now),
        s.loginSessionStore.listLive(user.id, now),
      ]);
      const sessions = sessionViews(families, logins).map(describeSession);
      return { id: user.id, username, sessions };
    },
  },
  'sessions revoke': {
    summary:
      'end every session of the user: refresh families and their live access tokens, login sessions of /authorize, pending codes',
    options: [USERNAME],
    async run({ values, services }) {
      const username = values.username as string;
      const s = await services();
      const user = await s.userAccounts.find(username);
      const ended = await s.refreshTokens.revokeUserSessions(user.id, {
        reason: 'admin_revoked',
        audit: CLI_STAMP,
      });
      // Both kinds count: refresh families and login sessions of /authorize.
      return {
        id: user.id,
        username,
        sessions_revoked: ended.familyIds.length + ended.loginSessionIds.length,
      };
    },
  },
};
