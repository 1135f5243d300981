import { CLI_ACTOR } from '../accounts/admin_policy.js';
import { CLI_STAMP } from '../audit/trail.js';
import type { Backends, Services } from '../compose.js';
import { type MigrationStatus, migrationStatus } from '../db/migrate.js';
import { GRANT_TYPES, type GrantType } from '../stores/types.js';
import { type CliIo, readSecret } from './io.js';
import { type OptionTable, type OptionValues, parseOptions, UsageError, usageLine } from './options.js';

export { UsageError } from './options.js';

export interface CommandContext {
  args: string[];
  io: CliIo;
  /** Backends, stores and domain (no jobs): what most commands use. */
  services: () => Promise<Services>;
  /** The backends stage alone, migrating (`apply`) or not (`report`): `tessera migrate`. */
  backends: (migrations: 'apply' | 'report') => Promise<Backends>;
}

export interface Command {
  /** The usage line without `tessera`; made from the option table by `command()`. */
  usage?: string;
  summary: string;
  /** More for `tessera <command> --help`: what it changes, what it prints. */
  details?: string;
  /** Its flags: they parse the arguments and write --help (src/cli/options.ts). */
  options?: OptionTable;
  /** Commands that need no signing keys skip loading them. */
  needsKeys?: boolean;
  /**
   * Only the commands that decrypt or encrypt private keys read KEY_ENCRYPTION_KEY: operators and
   * migration jobs run everything else without holding the key that opens the signing keys.
   */
  needsKek?: boolean;
  /** Reads a password from stdin: sent along when a running server runs the command. */
  readsPassword?: boolean;
  run(ctx: CommandContext): Promise<Record<string, unknown>>;
  /** Human output (without --json); the default is aligned columns (src/cli/table.ts). */
  format?(result: Record<string, unknown>): string;
}

export interface CommandDefinition<O extends OptionTable> extends Omit<Command, 'run' | 'usage' | 'options'> {
  options: O;
  /** Positional arguments, by their usage names (`KID`). */
  positionals?: string[];
  /** Shown after the flags in the usage line: `(password on stdin)`. */
  note?: string;
  run(
    ctx: CommandContext & { values: OptionValues<O>; positionals: string[] },
  ): Promise<Record<string, unknown>>;
}

/**
 * A command whose flags are one table: `run` gets the parsed values; unknown flags, missing
 * required ones and stray arguments are usage errors before anything opens.
 */
export function command<const O extends OptionTable>(words: string, def: CommandDefinition<O>): Command {
  const positionals = def.positionals ?? [];
  return {
    ...def,
    usage: `${usageLine(words, def.options, positionals)}${def.note ? `   ${def.note}` : ''}`,
    run(ctx) {
      const parsed = parseOptions(ctx.args, def.options, positionals.length > 0);
      if (parsed.positionals.length > positionals.length)
        throw new UsageError(`unexpected argument "${parsed.positionals[positionals.length]}"`);
      return def.run({ ...ctx, ...parsed });
    },
  };
}

/** For commands without a table: the same one-line errors (src/cli/options.ts). */
export function parse(
  args: string[],
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>,
) {
  const table = Object.fromEntries(Object.entries(options).map(([n, o]) => [n, { ...o, description: '' }]));
  return parseOptions(args, table, true);
}

export function required(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

/** A password from stdin or the prompt; nothing at all is its own error, not a policy failure. */
export async function readPassword(io: CliIo, prompt: string): Promise<string> {
  const password = await readSecret(io, prompt);
  if (password === '') {
    throw new UsageError(
      io.stdin.isTTY
        ? 'no password entered'
        : 'no password on stdin (pipe it as the first line, or run in a terminal to be prompted)',
    );
  }
  return password;
}

export const list = (v: unknown) =>
  typeof v === 'string'
    ? v
        .split(/[,\s]+/)
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

const USERNAME = { type: 'string', value: 'U', description: 'the username', required: true } as const;
const CLIENT_ID = { type: 'string', value: 'C', description: 'the client id', required: true } as const;

/** The flags of `clients create`; further flags add a line here and a field in its run. */
const CLIENT_CREATE_OPTIONS = {
  name: { type: 'string', value: 'N', description: 'a name for people (logs, audit)', required: true },
  grants: {
    type: 'string',
    value: 'G,...',
    description: `grant types, of ${GRANT_TYPES.join(', ')}`,
    default: 'password,refresh_token',
  },
  scopes: {
    type: 'string',
    value: '"a b"',
    description: 'the scopes it may ask for (space or comma separated)',
    default: 'read',
  },
  audience: {
    type: 'string',
    multiple: true,
    value: 'URI',
    description: 'an API it may get tokens for (RFC 8707 resource); also what an --introspect client sees',
    default: 'the ISSUER',
  },
  'redirect-uri': {
    type: 'string',
    multiple: true,
    value: 'URI',
    description: 'an exact redirect URI for authorization_code',
  },
  origin: {
    type: 'string',
    multiple: true,
    value: 'URL',
    description: 'a browser origin answered with CORS',
  },
  'refresh-cookie': { type: 'boolean', description: 'cookie mode: the refresh token in an HttpOnly cookie' },
  public: { type: 'boolean', description: 'no secret (authenticates with none)' },
  introspect: { type: 'boolean', description: 'may call /introspect (give it the --audience it serves)' },
  admin: { type: 'boolean', description: 'may get the admin scopes through client_credentials' },
  dpop: { type: 'boolean', description: 'every token request must carry a DPoP proof (docs/dpop.md)' },
} as const;

/** Introspection shows a caller only tokens for its audiences (docs/endpoints.md#introspection). */
const INTROSPECT_WITHOUT_AUDIENCE =
  'warning: --introspect without --audience: this client sees only its own tokens, and every user ' +
  'token for an API introspects as {"active": false}; add --audience URI for the API it serves ' +
  '(docs/endpoints.md#introspection)\n';

export const coreCommands: Record<string, Command> = {
  migrate: command('migrate', {
    summary: "apply this release's pending migrations; --status lists applied, pending and unknown ones",
    details: [
      'Production instances never migrate on their own: run this once per release, before the new',
      'code rolls out. Migrations applied by a newer release ("unknown") are left alone: every',
      'migration is backward compatible with the previous release (docs/upgrades.md). In embedded',
      'mode this is also the one command that creates a missing database.',
    ].join('\n'),
    options: { status: { type: 'boolean', description: 'list migrations; change nothing' } },
    async run({ values, backends }) {
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
  }),
  'users create': command('users create', {
    summary: 'create a user; prints id and username',
    note: '(password on stdin)',
    readsPassword: true,
    options: {
      username: USERNAME,
      roles: { type: 'string', value: 'a,b', description: 'roles, carried in its tokens', default: 'none' },
    },
    async run({ values, io, services }) {
      const password = await readPassword(io, `Password for ${values.username}: `);
      return (await services()).userAccounts.create(
        values.username as string,
        password,
        list(values.roles),
        CLI_STAMP,
      );
    },
  }),
  'users disable': command('users disable', {
    summary: "disable a user and end all of the user's sessions",
    options: { username: USERNAME },
    async run({ values, services }) {
      return {
        ...(await (await services()).userAccounts.disable(values.username as string, CLI_STAMP)),
        disabled: true,
      };
    },
  }),
  'users set-password': command('users set-password', {
    summary: "change a password and end all of the user's sessions",
    note: '(password on stdin)',
    readsPassword: true,
    options: { username: USERNAME },
    async run({ values, io, services }) {
      const username = values.username as string;
      const password = await readPassword(io, `New password for ${username}: `);
      return {
        ...(await (await services()).userAccounts.setPassword(username, password, CLI_STAMP)),
        password_changed: true,
      };
    },
  }),
  'clients create': command('clients create', {
    summary: 'register a client; prints client_id and client_secret (shown once)',
    options: CLIENT_CREATE_OPTIONS,
    async run({ values, io, services }) {
      const grants = values.grants === undefined ? undefined : list(values.grants);
      const unknown = grants?.find((g) => !GRANT_TYPES.includes(g as GrantType));
      if (unknown) throw new UsageError(`unknown grant "${unknown}" (use ${GRANT_TYPES.join(', ')})`);
      const created = await (await services()).clientAccounts.create(
        {
          name: values.name as string,
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
      if (values.introspect && !values.audience?.length) io.stderr.write(INTROSPECT_WITHOUT_AUDIENCE);
      return created;
    },
  }),
  'clients list': command('clients list', {
    summary: 'list clients (never their secrets)',
    options: {},
    async run({ services }) {
      return { clients: await (await services()).clientAccounts.listAll() };
    },
  }),
  'clients disable': command('clients disable', {
    summary: 'disable a client; its tokens stop working',
    options: { 'client-id': CLIENT_ID },
    async run({ values, services }) {
      return (await services()).clientAccounts.disable(values['client-id'] as string, CLI_ACTOR);
    },
  }),
  'clients rotate-secret': command('clients rotate-secret', {
    summary: 'give a confidential client a new secret, printed once; the old one stops working',
    options: { 'client-id': CLIENT_ID },
    async run({ values, services }) {
      return (await services()).clientAccounts.rotateSecret(values['client-id'] as string, CLI_ACTOR);
    },
  }),
  'users list': command('users list', {
    summary: 'list users: id, username, roles, disabled (never a password hash)',
    options: {},
    async run({ services }) {
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
  }),
};
