import { CLI_STAMP } from '../audit/trail.js';
import { rewrapKeys } from '../keys/lifecycle.js';
import { type Command, parse, UsageError } from './commands.js';

/** `tessera keys ...` (docs/cli.md): the same lifecycle as the admin API, then the same signal. */
export const keyCommands: Record<string, Command> = {
  'keys list': {
    usage: 'keys list',
    summary: 'list signing keys: kid, alg, state and their times (never private material)',
    async run({ args, services }) {
      parse(args, {});
      return { keys: await (await services()).keyLifecycle.list() };
    },
  },
  'keys rotate': {
    usage: 'keys rotate [--force]',
    summary: 'promote next, retire active, create a new next; --force skips the JWKS max-age wait',
    needsKeys: true,
    needsKek: true,
    async run({ args, services }) {
      const { values } = parse(args, { force: { type: 'boolean' } });
      const keys = await (await services()).keyLifecycle.rotate({
        force: values.force ?? false,
        audit: CLI_STAMP,
      });
      return { rotated: true, keys: keys ?? [] };
    },
  },
  'keys revoke': {
    usage: 'keys revoke KID',
    summary: 'pull a compromised key from JWKS at once (rotating first if it is the active key)',
    needsKeys: true,
    needsKek: true,
    async run({ args, services }) {
      // Kids are RFC 7638 thumbprints in base64url and may start with "-": a lone argument is the KID.
      const positionals = args.length === 1 ? args : parse(args, {}).positionals;
      const [kid, ...rest] = positionals;
      if (!kid || rest.length > 0) throw new UsageError('exactly one KID is required');
      return { revoked: kid, keys: await (await services()).keyLifecycle.revoke(kid, CLI_STAMP) };
    },
  },
  'keys rewrap': {
    usage: 'keys rewrap   (KEY_ENCRYPTION_KEY = new KEK, KEY_ENCRYPTION_KEY_PREVIOUS = old KEK)',
    summary: 're-encrypt every private key under the new KEK in one transaction (idempotent)',
    // Keys are not loaded: under the new KEK they may not open yet; that is what this fixes.
    needsKek: true,
    async run({ args, services }) {
      parse(args, {});
      const s = await services();
      const result = await rewrapKeys(s.signingKeys, s.kek, s.config.keyEncryptionKeyPrevious);
      await s.audit.record(CLI_STAMP, 'key.rewrapped', {}, { ...result });
      return result;
    },
  },
};
