import { CLI_STAMP } from '../audit/trail.js';
import { CLIENT_ID, type Command, USERNAME } from './commands.js';

/** `tessera consents ...`: users' consents to third-party clients (docs/mcp.md). */
export const consentCommands: Record<string, Command> = {
  'consents list': {
    summary: "the user's live consents to third-party clients: client, scope, resource, expiry",
    options: [USERNAME],
    async run({ values, services }) {
      const username = values.username as string;
      const s = await services();
      const user = await s.userAccounts.find(username);
      return { id: user.id, username, consents: await s.consents.list(user.id) };
    },
  },
  'consents revoke': {
    summary: "forget the user's consent to the client and end that client's sessions of the user",
    options: [USERNAME, CLIENT_ID],
    async run({ values, services }) {
      const username = values.username as string;
      const s = await services();
      const user = await s.userAccounts.find(username);
      return {
        id: user.id,
        username,
        ...(await s.consents.revoke(user.id, values.clientId as string, CLI_STAMP)),
      };
    },
  },
};
