import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CLI_ACTOR } from '../accounts/admin_policy.js';
import { CLI_STAMP } from '../audit/trail.js';
import type { Backends, Services } from '../compose.js';
import { type MigrationStatus, migrationStatus } from '../db/migrate.js';
import { GRANT_TYPES, type GrantType } from '../stores/types.js';
import { type CliIo, readSecret } from './io.js';

export class UsageError extends Error {}

export interface CommandContext {
  args: string[];
  io: CliIo;
  /** Backends, stores and domain (no jobs): what most commands use. */
  services: () => Promise<Services>;
  /** The backends stage alone, migrating (`apply`) or not (`report`): `tessera migrate`. */
  backends: (migrations: 'apply' | 'report') => Promise<Backends>;
}

export interface Command {
  /** e.g. "users create --username U [--roles a,b]" */
  usage: string;
  summary: string;
  /** More for `tessera <command> --help`: what it changes, what it prints. */
  details?: string;
  /** Commands that need no signing keys skip loading them. */
  needsKeys?: boolean;
  /**
   * Only the commands that decrypt or encrypt private keys read KEY_ENCRYPTION_KEY: operators and
   * migration jobs run everything else without holding the key that opens the signing keys.
   */
  needsKek?: boolean;
  run(ctx: CommandContext): Promise<Record<string, unknown>>;
  /** Human output (without --json); the default prints one `key: value` line per member. */
  format?(result: Record<string, unknown>): string;
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true } as const);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function required(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

export const list = (v: unknown) =>
  typeof v === 'string'
    ? v
        .split(/[,\s]+/)
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

export const coreCommands: Record<string, Command> = {
  migrate: {
    usage: 'migrate [--status]',
    summary: "apply this release's pending migrations; --status lists applied, pending and unknown ones",
    details: [
      'Production instances never migrate on their own: run this once per release, before the new',
      'code rolls out. Migrations applied by a newer release ("unknown") are left alone: every',
      'migration is backward compatible with the previous release (docs/upgrades.md). In embedded',
      'mode this is also the one command that creates a missing database.',
    ].join('\n'),
    async run({ args, backends }) {
      const { values } = parse(args, { status: { type: 'boolean' } });
      if (values.status) return { ...(await migrationStatus((await backends('report')).db)) };
      return { applied: (await backends('apply')).appliedMigrations };
    },
    format(result) {
      if (!('pending' in result)) {
        const applied = result.applied as string[];
        return applied.length === 0 ? 'nothing to apply' : applied.map((m) => `applied  ${m}`).join('\n');
      }
      const { applied, pending, unknown } = result as unknown as MigrationStatus;
      return [
        ...applied.map((m) =>
          unknown.includes(m) ? `unknown  ${m}  (applied by a newer release)` : `applied  ${m}`,
        ),
        ...pending.map((m) => `pending  ${m}`),
      ].join('\n');
    },
  },
  'users create': {
    usage: 'users create --username U [--roles a,b]   (password on stdin)',
    summary: 'create a user; prints {"id","username"}',
    async run({ args, io, services }) {
      const { values } = parse(args, { username: { type: 'string' }, roles: { type: 'string' } });
      const username = required(values.username, '--username');
      const password = await readSecret(io, `Password for ${username}: `);
      return (await services()).userAccounts.create(username, password, list(values.roles), CLI_STAMP);
    },
  },
  'users disable': {
    usage: 'users disable --username U',
    summary: "disable a user and end all of the user's sessions",
    async run({ args, services }) {
      const { values } = parse(args, { username: { type: 'string' } });
      return {
        ...(await (
          await services()
        ).userAccounts.disable(required(values.username, '--username'), CLI_STAMP)),
        disabled: true,
      };
    },
  },
  'users set-password': {
    usage: 'users set-password --username U   (password on stdin)',
    summary: "change a password and end all of the user's sessions",
    async run({ args, io, services }) {
      const { values } = parse(args, { username: { type: 'string' } });
      const username = required(values.username, '--username');
      const password = await readSecret(io, `New password for ${username}: `);
      return {
        ...(await (await services()).userAccounts.setPassword(username, password, CLI_STAMP)),
        password_changed: true,
      };
    },
  },
  'clients create': {
    usage:
      'clients create --name N [--grants authorization_code,password,refresh_token,client_credentials] ' +
      '[--scopes "read write"] [--audience URI ...] [--redirect-uri URI ...] [--origin URL ...] ' +
      '[--refresh-cookie] [--public] [--introspect] [--admin] [--dpop]',
    summary: 'register a client; prints {"client_id","client_secret"} once',
    async run({ args, services }) {
      const { values } = parse(args, {
        name: { type: 'string' },
        grants: { type: 'string' },
        scopes: { type: 'string' },
        audience: { type: 'string', multiple: true },
        'redirect-uri': { type: 'string', multiple: true },
        origin: { type: 'string', multiple: true },
        'refresh-cookie': { type: 'boolean' },
        public: { type: 'boolean' },
        introspect: { type: 'boolean' },
        admin: { type: 'boolean' },
        dpop: { type: 'boolean' },
      });
      const grants = values.grants === undefined ? undefined : list(values.grants);
      const unknown = grants?.find((g) => !GRANT_TYPES.includes(g as GrantType));
      if (unknown) throw new UsageError(`unknown grant "${unknown}" (use ${GRANT_TYPES.join(', ')})`);
      return (await services()).clientAccounts.create(
        {
          name: required(values.name, '--name'),
          grantTypes: grants as GrantType[] | undefined,
          scopes: values.scopes === undefined ? undefined : list(values.scopes),
          audiences: values.audience,
          redirectUris: values['redirect-uri'],
          allowedOrigins: values.origin,
          refreshCookie: values['refresh-cookie'] ?? false,
          isPublic: values.public ?? false,
          canIntrospect: values.introspect ?? false,
          isAdmin: values.admin ?? false,
          // docs/dpop.md: every token request of this client must carry a DPoP proof.
          dpopBoundAccessTokens: values.dpop ?? false,
        },
        CLI_ACTOR,
      );
    },
  },
  'clients list': {
    usage: 'clients list',
    summary: 'list clients (never their secrets)',
    async run({ args, services }) {
      parse(args, {});
      return { clients: await (await services()).clientAccounts.listAll() };
    },
  },
  'clients disable': {
    usage: 'clients disable --client-id C',
    summary: 'disable a client; its tokens stop working',
    async run({ args, services }) {
      const { values } = parse(args, { 'client-id': { type: 'string' } });
      return (await services()).clientAccounts.disable(
        required(values['client-id'], '--client-id'),
        CLI_ACTOR,
      );
    },
  },
  'clients rotate-secret': {
    usage: 'clients rotate-secret --client-id C',
    summary: 'give a confidential client a new secret, printed once; the old one stops working',
    async run({ args, services }) {
      const { values } = parse(args, { 'client-id': { type: 'string' } });
      return (await services()).clientAccounts.rotateSecret(
        required(values['client-id'], '--client-id'),
        CLI_ACTOR,
      );
    },
  },
  'users list': {
    usage: 'users list',
    summary: 'list users: id, username, roles, disabled (never a password hash)',
    async run({ args, services }) {
      parse(args, {});
      const s = await services();
      const users = [];
      let cursor: string | undefined;
      do {
        const page = await s.userAccounts.list({ limit: 500, cursor });
        users.push(...page.users);
        cursor = page.next_cursor;
      } while (cursor);
      return { users };
    },
  },
};
