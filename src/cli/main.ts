import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { AccountError } from '../accounts/users.js';
import { type BuildOptions, buildCommandServices, openBackends, type Services } from '../compose.js';
import { type Config, ConfigError, isEmbedded, loadConfig } from '../config.js';
import { DataDirAccessible } from '../db/data_dir.js';
import { EmbeddedDatabaseBusy, EmbeddedDatabaseMissing, embeddedClusterPath } from '../db/embedded_lock.js';
import { KeyDecryptionError } from '../keys/key_material.js';
import { KeyLifecycleError } from '../keys/lifecycle.js';
import { createLogger } from '../observability.js';
import { adminSocketPath, sendToServer } from './admin_socket.js';
import { auditCommands } from './audit.js';
import { type Command, type CommandContext, coreCommands, readPassword, UsageError } from './commands.js';
import { consentCommands } from './consents.js';
import type { CliIo } from './io.js';
import { keyCommands } from './keys_commands.js';
import { type ParsedLine, parseCommandLine, usageError } from './program.js';
import { sessionCommands } from './sessions.js';
import { human } from './table.js';

/** Every command, keyed by its words ("users create"). Later modules add theirs here. */
export const commands: Record<string, Command> = {
  ...coreCommands,
  ...sessionCommands,
  ...keyCommands,
  ...auditCommands,
  ...consentCommands,
};

/**
 * The CLI reports what it did in its own output: the info and warn lines its actions cause
 * (a key revoked) would only repeat it, in JSON, beside the table. LOG_LEVEL=debug still shows all.
 */
const cliLogLevel = (level: Config['logLevel']) => (level === 'debug' || level === 'trace' ? level : 'error');

/**
 * Embedded mode: the CLI opens the database the server uses (DATA_DIR, relative to the install
 * folder) and never creates an empty one silently. Only `tessera migrate` creates it, and says so.
 */
function mayCreateEmbedded(config: Config, line: ParsedLine, io: CliIo): boolean {
  const create = line.key === 'migrate' && line.values.status !== true;
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
  const line = await parseCommandLine(argv, commands, io);
  if ('exit' in line) return line.exit;
  const { key, command, json } = line;
  const ctx = { values: line.values, positionals: line.positionals, io };
  let opened: { close(): Promise<void> } | undefined;
  try {
    if (inServer) return await report(command, await runInServer(command, ctx, inServer), json, io);
    const config = loadConfig(env, { requireKek: command.needsKek === true });
    if (isEmbedded(config)) {
      // A running embedded server holds the database: it runs the command (docs/cli.md).
      // The line was parsed above: its usage errors come before the password prompt.
      const stdin = command.readsPassword ? await readPassword(io, 'Password: ') : '';
      const code = await sendToServer(adminSocketPath(config.dataDir), argv, stdin, io);
      if (code !== undefined) return code;
      if (command.readsPassword) ctx.io = { ...io, stdin: Readable.from([`${stdin}\n`]) };
    }
    const options: BuildOptions = {
      // Logs go to stderr so stdout stays one JSON object.
      log: createLogger(cliLogLevel(config.logLevel), io.stderr),
      withoutKeys: !command.needsKeys,
      withoutKek: !command.needsKek,
      createEmbedded: mayCreateEmbedded(config, line, io),
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
    return await report(command, await command.run({ ...ctx, services, backends }), json, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(usageError(key, line.usage, err.message));
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
function runInServer(
  command: Command,
  ctx: Pick<CommandContext, 'values' | 'positionals' | 'io'>,
  { services }: InServer,
) {
  return command.run({
    ...ctx,
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
