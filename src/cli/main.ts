import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { AccountError } from '../accounts/users.js';
import { type BuildOptions, buildCommandServices, openBackends, type Services } from '../compose.js';
import { type Config, ConfigError, isEmbedded, loadConfig } from '../config.js';
import { DataDirAccessible } from '../db/data_dir.js';
import { EmbeddedDatabaseBusy, EmbeddedDatabaseMissing, embeddedClusterPath } from '../db/embedded_lock.js';
import { packageVersion } from '../install_root.js';
import { KeyDecryptionError } from '../keys/key_material.js';
import { KeyLifecycleError } from '../keys/lifecycle.js';
import { createLogger } from '../observability.js';
import { adminSocketPath, sendToServer } from './admin_socket.js';
import { auditCommands } from './audit.js';
import { type Command, coreCommands, readPassword, UsageError } from './commands.js';
import { consentCommands } from './consents.js';
import type { CliIo } from './io.js';
import { keyCommands } from './keys_commands.js';
import { optionsHelp, parseOptions } from './options.js';
import { sessionCommands } from './sessions.js';
import { closest } from './suggest.js';
import { human } from './table.js';

/** Every command, keyed by its words ("users create"). Later modules add theirs here. */
export const commands: Record<string, Command> = {
  ...coreCommands,
  ...sessionCommands,
  ...keyCommands,
  ...auditCommands,
  ...consentCommands,
};

const usageOf = (key: string, c: Command) => c.usage ?? key;

function help(): string {
  const keys = Object.keys(commands);
  const width = Math.max(...keys.map((k) => k.length));
  const lines = Object.entries(commands).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`);
  return [
    'usage: tessera <command> [options] [--json]',
    '       tessera <command> --help | tessera --version',
    '',
    'Reads the same environment as the server (DATABASE_URL, REDIS_URL, DATA_DIR, ...).',
    'Only keys rotate, keys revoke and keys rewrap need KEY_ENCRYPTION_KEY. Passwords come from',
    'stdin or a prompt, never from arguments. Output is a table for people; --json (anywhere) prints',
    'one JSON object on stdout. Errors go to stderr with exit 1 (failure) or 2 (usage).',
    'Embedded mode: the database is DATA_DIR (relative to the Tessera folder). While the server',
    'runs, the CLI sends its commands to it over the admin socket in DATA_DIR (docs/cli.md).',
    '',
    'commands:',
    ...lines,
    '',
    'tessera <command> --help lists its options.',
    '',
  ].join('\n');
}

function commandHelp(key: string, command: Command): string {
  const lines = [`usage: tessera ${usageOf(key, command)} [--json]`, '', command.summary];
  if (command.options) lines.push('', 'options:', optionsHelp(command.options));
  if (command.details) lines.push('', command.details);
  if (command.needsKek) lines.push('', 'Needs KEY_ENCRYPTION_KEY (or KEY_ENCRYPTION_KEY_FILE).');
  return `${lines.join('\n')}\n`;
}

/** `tessera users --help`: the commands of one group. */
function groupHelp(group: string): string | undefined {
  const members = Object.entries(commands).filter(([k]) => k.startsWith(`${group} `));
  if (members.length === 0) return undefined;
  return `${members.map(([k, c]) => `usage: tessera ${usageOf(k, c)}\n       ${c.summary}`).join('\n')}\n`;
}

/** One line for an unknown command, with the closest one when there is one. */
function unknownCommand(args: string[]): string {
  const groups = [...new Set(Object.keys(commands).map((k) => k.split(' ')[0] as string))];
  const group = groups.includes(args[0] ?? '') ? args[0] : undefined;
  const typed = group ? args.slice(0, 2).join(' ') : (args[0] ?? '');
  const guess = group
    ? closest(
        typed,
        Object.keys(commands).filter((k) => k.startsWith(`${group} `)),
      )
    : closest(typed, [...Object.keys(commands), ...groups]);
  const hint = guess ? ` (did you mean "${guess}"?)` : '';
  const more = group ? `tessera ${group} --help` : 'tessera --help';
  return `tessera: unknown command "${typed}"${hint}; ${more} lists the commands\n`;
}

/**
 * The CLI reports what it did in its own output: the info and warn lines its actions cause
 * (a key revoked) would only repeat it, in JSON, beside the table. LOG_LEVEL=debug still shows all.
 */
const cliLogLevel = (level: Config['logLevel']) => (level === 'debug' || level === 'trace' ? level : 'error');

/**
 * Embedded mode: the CLI opens the database the server uses (DATA_DIR, relative to the install
 * folder) and never creates an empty one silently. Only `tessera migrate` creates it, and says so.
 */
function mayCreateEmbedded(config: Config, key: string, args: string[], io: CliIo): boolean {
  const create = key === 'migrate' && !args.includes('--status');
  if (create && isEmbedded(config) && !existsSync(embeddedClusterPath(config.dataDir)))
    io.stderr.write(`tessera migrate: creating a new embedded database in ${config.dataDir}\n`);
  return create;
}

/** A running server's services: the command runs in that process (cli/admin_socket.ts). */
export interface InServer {
  services: Services;
}

/**
 * Runs one CLI invocation; returns the exit code. Exported so tests drive it in-process. With
 * `inServer`, the command runs on the services of the server that received it on its admin socket.
 */
export async function runCli(
  argv: string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = process.env,
  inServer?: InServer,
): Promise<number> {
  const json = argv.includes('--json');
  let args = argv.filter((a) => a !== '--json');
  if (args[0] === '--version' || args[0] === '-v' || args[0] === 'version') {
    const version = packageVersion();
    io.stdout.write(json ? `${JSON.stringify({ version })}\n` : `tessera ${version}\n`);
    return 0;
  }
  const wantsHelp = args[0] === 'help' || args.includes('--help') || args.includes('-h');
  if (args[0] === 'help') args = args.slice(1);
  args = args.filter((a) => a !== '--help' && a !== '-h');
  const key = [args.slice(0, 2).join(' '), args[0] ?? ''].find((k) => k in commands);
  const command = key ? commands[key] : undefined;
  if (wantsHelp || args.length === 0) {
    const text = command && key ? commandHelp(key, command) : (groupHelp(args[0] ?? '') ?? help());
    io.stdout.write(text);
    return args.length === 0 && !wantsHelp ? 2 : 0;
  }
  if (!key || !command) {
    io.stderr.write(unknownCommand(args));
    return 2;
  }
  let opened: { close(): Promise<void> } | undefined;
  try {
    const rest = args.slice(key.split(' ').length);
    if (inServer) return await report(command, await runInServer(command, rest, io, inServer), json, io);
    const config = loadConfig(env, { requireKek: command.needsKek === true });
    if (isEmbedded(config)) {
      // A running embedded server holds the database: it runs the command (docs/cli.md).
      // Its usage errors come before the password prompt, as in a local run.
      if (command.options) parseOptions(rest, command.options, true);
      const stdin = command.readsPassword ? await readPassword(io, 'Password: ') : '';
      const code = await sendToServer(adminSocketPath(config.dataDir), argv, stdin, io);
      if (code !== undefined) return code;
      if (command.readsPassword) io = { ...io, stdin: Readable.from([`${stdin}\n`]) };
    }
    const options: BuildOptions = {
      // Logs go to stderr so stdout stays one JSON object.
      log: createLogger(cliLogLevel(config.logLevel), io.stderr),
      withoutKeys: !command.needsKeys,
      withoutKek: !command.needsKek,
      createEmbedded: mayCreateEmbedded(config, key, rest, io),
    };
    // Each command builds only the stages it uses: `migrate` the backends, the others up to the domain.
    const services = async () => {
      const built = await buildCommandServices(config, options);
      opened = built;
      return built;
    };
    const backends = async (migrations: 'apply' | 'report') => {
      const built = await openBackends(config, { ...options, migrations, listen: false });
      opened = built;
      return built;
    };
    return await report(command, await command.run({ args: rest, io, services, backends }), json, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(
        `tessera ${key}: ${err.message}\nusage: tessera ${usageOf(key, command)}   (--help explains each option)\n`,
      );
      return 2;
    }
    const known =
      err instanceof EmbeddedDatabaseMissing ||
      err instanceof ConfigError ||
      err instanceof AccountError ||
      err instanceof EmbeddedDatabaseBusy ||
      err instanceof DataDirAccessible ||
      err instanceof KeyLifecycleError ||
      err instanceof KeyDecryptionError;
    let message = err instanceof Error ? err.message : String(err);
    if (err instanceof KeyLifecycleError && err.forceable) message += '; run with --force to rotate now';
    io.stderr.write(`tessera ${key}: ${known ? message : `failed: ${message}`}\n`);
    return 1;
  } finally {
    await opened?.close();
  }
}

async function report(command: Command, result: Record<string, unknown>, json: boolean, io: CliIo) {
  const text = json ? JSON.stringify(result) : (command.format?.(result) ?? human(result));
  io.stdout.write(`${text}\n`);
  return 0;
}

/** The command on the server's own services; nothing is opened, so nothing is closed after. */
function runInServer(command: Command, args: string[], io: CliIo, { services }: InServer) {
  return command.run({
    args,
    io,
    services: async () => services,
    // The server applied its migrations when it started: there is nothing left to apply.
    backends: async (migrations) =>
      migrations === 'apply' ? { ...services, appliedMigrations: [] } : services,
  });
}

const isEntry = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isEntry || process.env.TESSERA_CLI_ENTRY === '1') {
  runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  }).then((code) => process.exit(code));
}
