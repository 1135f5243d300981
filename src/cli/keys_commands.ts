import { CLI_STAMP } from '../audit/trail.js';
import { rewrapKeys } from '../keys/lifecycle.js';
import { type Command, command, UsageError } from './commands.js';

/** `tessera keys ...` (docs/cli.md): the same lifecycle as the admin API, then the same signal. */
export const keyCommands: Record<string, Command> = {
  'keys list': command('keys list', {
    summary: 'list signing keys: kid, alg, state and their times (never private material)',
    options: {},
    async run({ services }) {
      return { keys: await (await services()).keyLifecycle.list() };
    },
  }),
  'keys rotate': command('keys rotate', {
    summary: 'promote next, retire active, create a new next',
    details: [
      'Refused while the next key is younger than JWKS_MAX_AGE: resource servers caching the JWKS',
      'may not know it yet. --force rotates anyway (docs/keys.md).',
    ].join('\n'),
    options: {
      force: { type: 'boolean', description: 'skip the JWKS max-age wait (after a leak)' },
    },
    needsKeys: true,
    needsKek: true,
    async run({ values, services }) {
      const keys = await (await services()).keyLifecycle.rotate({
        force: values.force ?? false,
        audit: CLI_STAMP,
      });
      return { rotated: true, keys: keys ?? [] };
    },
  }),
  'keys revoke': {
    usage: 'keys revoke KID',
    summary: 'pull a compromised key from JWKS at once (rotating first if it is the active key)',
    needsKeys: true,
    needsKek: true,
    async run({ args, services }) {
      // Kids are RFC 7638 thumbprints in base64url and may start with "-": the argument is the KID,
      // never a flag.
      const [kid, ...rest] = args[0] === '--' ? args.slice(1) : args;
      if (!kid || rest.length > 0) throw new UsageError('exactly one KID is required');
      return { revoked: kid, keys: await (await services()).keyLifecycle.revoke(kid, CLI_STAMP) };
    },
  },
  'keys rewrap': command('keys rewrap', {
    summary: 're-encrypt every private key under the new KEK in one transaction (idempotent)',
    note: '(KEY_ENCRYPTION_KEY = new KEK, KEY_ENCRYPTION_KEY_PREVIOUS = old KEK)',
    // Keys are not loaded: under the new KEK they may not open yet; that is what this fixes.
    needsKek: true,
    options: {},
    async run({ services }) {
      const s = await services();
      const result = await rewrapKeys(s.signingKeys, s.kek, s.config.keyEncryptionKeyPrevious);
      await s.facts.record(CLI_STAMP, [{ type: 'key.rewrapped', ...result }]);
      return result;
    },
  }),
};
