import type { Option } from 'commander';
import { CLI_ACTOR } from '../accounts/admin_policy.js';
import { CLI_STAMP } from '../audit/trail.js';
import type { Backends, Services } from '../compose.js';
import { type MigrationStatus, migrationStatus } from '../db/migrate.js';
import { GRANT_TYPES, type GrantType } from '../stores/types.js';
import { type CliIo, readSecret } from './io.js';
import { flag, UsageError, value } from './options.js';

export { UsageError } from './options.js';

export interface CommandContext {
  /** Its flags as commander parsed them, by attribute name (`--client-id` is `clientId`). */
  values: Record<string, unknown>;
  /** Its arguments (`keys revoke KID`). */
  positionals: string[];
  io: CliIo;
  /** Backends, stores and domain (no jobs): what most commands use. */
  services: () => Promise<Services>;
  /** The backends stage alone, migrating (`apply`) or not (`report`): `tessera migrate`. */
  backends: (migrations: 'apply' | 'report') => Promise<Backends>;
}

/**
 * One command. Its flags are commander Options (src/cli/options.ts builds them): the same objects
 * parse the line and write --help and the usage line, so a flag cannot be accepted undocumented.
 */
export interface Command {
  summary: string;
  /** More for `tessera <command> --help`: what it changes, what it prints. */
  details?: string;
  options?: Option[];
  /** Positional arguments in commander's notation, with their help: `['KID', 'the key id']`. */
  arguments?: [string, string][];
  /** Its argument may start with "-" (a base64url kid): unknown "flags" are taken as it. */
  positionalsMayStartWithDash?: boolean;
  /** Shown after the flags in the usage line: `(password on stdin)`. */
  note?: string;
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

export const USERNAME = value('username', 'U', 'the username', { required: true });
export const CLIENT_ID = value('client-id', 'C', 'the client id', { required: true });

/** The flags of `clients create`; further flags add a line here and a field in its run. */
const CLIENT_CREATE_OPTIONS = [
  value('name', 'N', 'a name for people (logs, audit)', { required: true }),
  value('grants', 'G,...', `grant types, of ${GRANT_TYPES.join(', ')}`, {
    default: 'password,refresh_token',
  }),
  value('scopes', '"a b"', 'the scopes it may ask for (space or comma separated)', { default: 'read' }),
  value(
    'audience',
    'URI',
    'an API it may get tokens for (RFC 8707 resource); also what an --introspect client sees',
    { repeatable: true, default: 'the ISSUER' },
  ),
  value('redirect-uri', 'URI', 'an exact redirect URI for authorization_code', { repeatable: true }),
  value('origin', 'URL', 'a browser origin answered with CORS', { repeatable: true }),
  flag('refresh-cookie', 'cookie mode: the refresh token in an HttpOnly cookie'),
  flag('public', 'no secret (authenticates with none)'),
  flag('introspect', 'may call /introspect (give it the --audience it serves)'),
  flag('admin', 'may get the admin scopes through client_credentials'),
  flag('dpop', 'every token request must carry a DPoP proof (docs/dpop.md)'),
];

/** Introspection shows a caller only tokens for its audiences (docs/endpoints.md#introspection). */
const INTROSPECT_WITHOUT_AUDIENCE =
  'warning: --introspect without --audience: this client sees only its own tokens, and every user ' +
  'token for an API introspects as {"active": false}; add --audience URI for the API it serves ' +
  '(docs/endpoints.md#introspection)\n';

export const coreCommands: Record<string, Command> = {
  migrate: {
    summary: "apply this release's pending migrations; --status lists applied, pending and unknown ones",
    details: [
      'Production instances never migrate on their own: run this once per release, before the new',
      'code rolls out. Migrations applied by a newer release ("unknown") are left alone: every',
      'migration is backward compatible with the previous release (docs/upgrades.md). In embedded',
      'mode this is also the one command that creates a missing database.',
    ].join('\n'),
    options: [flag('status', 'list migrations; change nothing')],
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
  },
  'users create': {
    summary: 'create a user; prints id and username',
    note: '(password on stdin)',
    readsPassword: true,
    options: [USERNAME, value('roles', 'a,b', 'roles, carried in its tokens', { default: 'none' })],
    async run({ values, io, services }) {
      const password = await readPassword(io, `Password for ${values.username}: `);
      return (await services()).userAccounts.create(
        values.username as string,
        password,
        list(values.roles),
        CLI_STAMP,
      );
    },
  },
  'users disable': {
    summary: "disable a user and end all of the user's sessions",
    options: [USERNAME],
    async run({ values, services }) {
      return {
        ...(await (await services()).userAccounts.disable(values.username as string, CLI_STAMP)),
        disabled: true,
      };
    },
  },
  'users set-password': {
    summary: "change a password and end all of the user's sessions",
    note: '(password on stdin)',
    readsPassword: true,
    options: [USERNAME],
    async run({ values, io, services }) {
      const username = values.username as string;
      const password = await readPassword(io, `New password for ${username}: `);
      return {
        ...(await (await services()).userAccounts.setPassword(username, password, CLI_STAMP)),
        password_changed: true,
      };
    },
  },
  'clients create': {
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
          audiences: values.audience as string[] | undefined,
          redirectUris: values.redirectUri as string[] | undefined,
          allowedOrigins: values.origin as string[] | undefined,
          refreshCookie: values.refreshCookie === true,
          isPublic: values.public === true,
          canIntrospect: values.introspect === true,
          isAdmin: values.admin === true,
          // docs/dpop.md: every token request of this client must carry a DPoP proof.
          dpopBoundAccessTokens: values.dpop === true,
        },
        CLI_ACTOR,
      );
      if (values.introspect && values.audience === undefined) io.stderr.write(INTROSPECT_WITHOUT_AUDIENCE);
      return created;
    },
  },
  'clients list': {
    summary: 'list clients (never their secrets)',
    async run({ services }) {
      return { clients: await (await services()).clientAccounts.listAll() };
    },
  },
  'clients disable': {
    summary: 'disable a client; its tokens stop working',
    options: [CLIENT_ID],
    async run({ values, services }) {
      return (await services()).clientAccounts.disable(values.clientId as string, CLI_ACTOR);
    },
  },
  'clients rotate-secret': {
    summary: 'give a confidential client a new secret, printed once; the old one stops working',
    options: [CLIENT_ID],
    async run({ values, services }) {
      return (await services()).clientAccounts.rotateSecret(values.clientId as string, CLI_ACTOR);
    },
  },
  'users list': {
    summary: 'list users: id, username, roles, disabled (never a password hash)',
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
  },
};
