import { CLI_STAMP } from '../audit/trail.js';
import { type Command, parse, required } from './commands.js';

/** `tessera sessions ...`: session administration (docs/cli.md). */
export const sessionCommands: Record<string, Command> = {
  'sessions revoke': {
    usage: 'sessions revoke --username U',
    summary: 'end every session of the user (refresh families and their live access tokens)',
    async run({ args, services }) {
      const { values } = parse(args, { username: { type: 'string' } });
      const username = required(values.username, '--username');
      const s = await services();
      const user = await s.userAccounts.find(username);
      const ended = await s.sessions.endUserSessions(user.id, 'admin_revoked', CLI_STAMP);
      return { id: user.id, username, sessions_revoked: ended.length };
    },
  },
};
