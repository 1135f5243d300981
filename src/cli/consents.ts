import { CLI_STAMP } from '../audit/trail.js';
import { type Command, parse, required } from './commands.js';

/** `tessera consents ...`: users' consents to third-party clients (docs/mcp.md). */
export const consentCommands: Record<string, Command> = {
  'consents list': {
    usage: 'consents list --username U',
    summary: "the user's live consents to third-party clients: client, scope, resource, expiry",
    async run({ args, services }) {
      const { values } = parse(args, { username: { type: 'string' } });
      const username = required(values.username, '--username');
      const s = await services();
      const user = await s.userAccounts.find(username);
      return { id: user.id, username, consents: await s.consents.list(user.id) };
    },
  },
  'consents revoke': {
    usage: 'consents revoke --username U --client-id C',
    summary: "forget the user's consent to the client and end that client's sessions of the user",
    async run({ args, services }) {
      const { values } = parse(args, { username: { type: 'string' }, 'client-id': { type: 'string' } });
      const username = required(values.username, '--username');
      const clientId = required(values['client-id'], '--client-id');
      const s = await services();
      const user = await s.userAccounts.find(username);
      return { id: user.id, username, ...(await s.consents.revoke(user.id, clientId, CLI_STAMP)) };
    },
  },
};
