import { CLI_STAMP } from '../audit/trail.js';
import { describeSession } from '../sessions/sessions.js';
import { type Command, parse, required } from './commands.js';

/** `tessera sessions ...`: session administration (docs/cli.md). */
export const sessionCommands: Record<string, Command> = {
  'sessions list': {
    usage: 'sessions list --username U',
    summary:
      "the user's live sessions, refresh (session id = the sid claim, client, scope, last used) and login (signed in at /authorize): kind, created, expiry",
    async run({ args, services }) {
      const { values } = parse(args, { username: { type: 'string' } });
      const username = required(values.username, '--username');
      const s = await services();
      const user = await s.userAccounts.find(username);
      const sessions = (await s.sessions.listLive(user.id)).map(describeSession);
      return { id: user.id, username, sessions };
    },
  },
  'sessions revoke': {
    usage: 'sessions revoke --username U',
    summary:
      'end every session of the user: refresh families and their live access tokens, login sessions of /authorize, pending codes',
    async run({ args, services }) {
      const { values } = parse(args, { username: { type: 'string' } });
      const username = required(values.username, '--username');
      const s = await services();
      const user = await s.userAccounts.find(username);
      const ended = await s.sessions.endUserSessions(user.id, 'admin_revoked', CLI_STAMP);
      // Both kinds count: refresh families and login sessions of /authorize.
      return {
        id: user.id,
        username,
        sessions_revoked: ended.familyIds.length + ended.loginSessionIds.length,
      };
    },
  },
};
