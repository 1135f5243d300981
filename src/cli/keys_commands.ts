import { CLI_STAMP } from '../audit/trail.js';
import { rewrapKeys } from '../keys/lifecycle.js';
import type { Command } from './commands.js';
import { flag } from './options.js';

/** `tessera keys ...` (docs/cli.md): the same lifecycle as the admin API, then the same signal. */
export const keyCommands: Record<string, Command> = {
  'keys list': {
    summary: 'list signing keys: kid, alg, state and their times (never private material)',
    async run({ services }) {
      return { keys: await (await services()).keyLifecycle.list() };
    },
  },
  'keys rotate': {
    summary: 'promote next, retire active, create a new next',
    details: [
      'Refused while the next key is younger than JWKS_MAX_AGE: resource servers caching the JWKS',
      'may not know it yet. --force rotates anyway (docs/keys.md).',
    ].join('\n'),
    options: [flag('force', 'skip the JWKS max-age wait (after a leak)')],
    needsKeys: true,
    needsKek: true,
    async run({ values, services }) {
      const keys = await (await services()).keyLifecycle.rotate({
        force: values.force === true,
        audit: CLI_STAMP,
      });
      return { rotated: true, keys: keys ?? [] };
    },
  },
  'keys revoke': {
    summary: 'pull a compromised key from JWKS at once (rotating first if it is the active key)',
    arguments: [['<KID>', 'the kid, as keys list shows it']],
    // Kids are RFC 7638 thumbprints in base64url and may start with "-": the argument is the KID,
    // never a flag (`keys revoke -- KID` works too).
    positionalsMayStartWithDash: true,
    needsKeys: true,
    needsKek: true,
    async run({ positionals, services }) {
      const kid = positionals[0] as string;
      return { revoked: kid, keys: await (await services()).keyLifecycle.revoke(kid, CLI_STAMP) };
    },
  },
  'keys rewrap': {
    summary: 're-encrypt every private key under the new KEK in one transaction (idempotent)',
    note: '(KEY_ENCRYPTION_KEY = new KEK, KEY_ENCRYPTION_KEY_PREVIOUS = old KEK)',
    // Keys are not loaded: under the new KEK they may not open yet; that is what this fixes.
    needsKek: true,
    async run({ services }) {
      const s = await services();
      const result = await rewrapKeys(s.signingKeys, s.kek, s.config.keyEncryptionKeyPrevious);
      await s.facts.record(CLI_STAMP, [{ type: 'key.rewrapped', ...result }]);
      return result;
    },
  },
};
