import { CLI_STAMP } from '../audit/trail.js';
import { type Command, parse, required } from './commands.js';

/** `tessera sessions ...`: session administration (docs/cli.md). */
export const sessionCommands: Record<string, Command> = {
  'sessions list': {
    usage: 'sessions list --username U',
    summary: "the user's live sessions: session id (the sid claim), client, created, last used, expiry",
    async run({ args, services }) {
      const { values } = parse(args, { username: { type: 'string' } });
      const username = required(values.username, '--username');
      const s = await services();
      const user = await s.userAccounts.find(username);
      const sessions = (await s.sessions.listLive(user.id)).map((f) => ({
        session_id: f.id,
        client_id: f.clientId,
        scope: f.scope,
        created_at: f.createdAt.toISOString(),
        last_used_at: f.lastUsedAt.toISOString(),
        expires_at: f.expiresAt.toISOString(),
      }));
      return { id: user.id, username, sessions };
    },
  },
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
