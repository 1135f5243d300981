import { CLI_STAMP } from '../audit/trail.js';
import { type Command, command } from './commands.js';

const USERNAME = { type: 'string', value: 'U', description: 'the username', required: true } as const;

/** `tessera sessions ...`: session administration (docs/cli.md). */
export const sessionCommands: Record<string, Command> = {
  'sessions list': command('sessions list', {
    summary: "the user's live sessions: session id (the sid claim), client, created, last used, expiry",
    options: { username: USERNAME },
    async run({ values, services }) {
      const username = values.username as string;
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
  }),
  'sessions revoke': command('sessions revoke', {
    summary: 'end every session of the user (refresh families and their live access tokens)',
    options: { username: USERNAME },
    async run({ values, services }) {
      const username = values.username as string;
      const s = await services();
      const user = await s.userAccounts.find(username);
      const ended = await s.sessions.endUserSessions(user.id, 'admin_revoked', CLI_STAMP);
      return { id: user.id, username, sessions_revoked: ended.length };
    },
  }),
};
