import { existsSync } from 'node:fs';
import { AccountError } from '../accounts/users.js';
import { type BuildOptions, buildCommandServices, openBackends } from '../compose.js';
import { type Config, ConfigError, isEmbedded, loadConfig } from '../config.js';
import { DataDirAccessible } from '../db/data_dir.js';
import { EmbeddedDatabaseBusy, EmbeddedDatabaseMissing, embeddedClusterPath } from '../db/embedded_lock.js';
import { packageVersion } from '../install_root.js';
import { KeyDecryptionError } from '../keys/key_material.js';
import { KeyLifecycleError } from '../keys/lifecycle.js';
import { createLogger } from '../observability.js';
import { auditCommands } from './audit.js';
import { type Command, coreCommands, UsageError } from './commands.js';
import { consentCommands } from './consents.js';
import type { CliIo } from './io.js';
import { keyCommands } from './keys_commands.js';
import { sessionCommands } from './sessions.js';

/** Every command, keyed by its words ("users create"). Later modules add theirs here. */
export const commands: Record<string, Command> = {
  ...coreCommands,
  ...sessionCommands,
  ...keyCommands,
  ...auditCommands,
  ...consentCommands,
};

function help(): string {
  const lines = Object.values(commands).map((c) => `  ${c.usage}\n      ${c.summary}`);
  return [
    'usage: tessera <command> [options] [--json]',
    '       tessera <command> --help | tessera --version',
    '',
    'Reads the same environment as the server (DATABASE_URL, REDIS_URL, DATA_DIR, ...).',
    'Only the key commands that sign or re-encrypt (keys rotate, keys revoke, keys rewrap) need',
    'KEY_ENCRYPTION_KEY. Passwords come from stdin or a prompt, never from arguments.',
    '--json (anywhere) prints one JSON object on stdout; errors go to stderr with a non-zero exit.',
    'Embedded mode: the database is DATA_DIR (relative to the Tessera folder); run the CLI while',
    'the server is stopped, or use the admin API.',
    '',
    'commands:',
    ...lines,
    '',
  ].join('\n');
}

function commandHelp(command: Command): string {
  const lines = [`usage: tessera ${command.usage} [--json]`, '', command.summary];
  if (command.details) lines.push('', command.details);
  if (command.needsKek) lines.push('', 'Needs KEY_ENCRYPTION_KEY (or KEY_ENCRYPTION_KEY_FILE).');
  return `${lines.join('\n')}\n`;
}

/** `tessera users --help`: the commands of one group. */
function groupHelp(group: string): string | undefined {
  const members = Object.entries(commands).filter(([k]) => k.startsWith(`${group} `));
  if (members.length === 0) return undefined;
  return `${members.map(([, c]) => `usage: tessera ${c.usage}\n       ${c.summary}`).join('\n')}\n`;
}

function human(result: Record<string, unknown>): string {
  return Object.entries(result)
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v, null, 2) : String(v)}`)
    .join('\n');
}

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

/** Runs one CLI invocation; returns the exit code. Exported so tests drive it in-process. */
export async function runCli(
  argv: string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = process.env,
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
    const text = command ? commandHelp(command) : (groupHelp(args[0] ?? '') ?? help());
    io.stdout.write(text);
    return args.length === 0 && !wantsHelp ? 2 : 0;
  }
  if (!key || !command) {
    io.stderr.write(`tessera: unknown command "${args.slice(0, 2).join(' ')}"\n\n${help()}`);
    return 2;
  }
  let opened: { close(): Promise<void> } | undefined;
  try {
    const config = loadConfig(env, { requireKek: command.needsKek === true });
    const rest = args.slice(key.split(' ').length);
    const options: BuildOptions = {
      // Logs go to stderr so stdout stays one JSON object.
      log: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr),
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
    const result = await command.run({ args: rest, io, services, backends });
    const text = json ? JSON.stringify(result) : (command.format?.(result) ?? human(result));
    io.stdout.write(`${text}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`tessera ${key}: ${err.message}\nusage: tessera ${command.usage}\n`);
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
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`tessera ${key}: ${known ? message : `failed: ${message}`}\n`);
    return 1;
  } finally {
    await opened?.close();
  }
}

const isEntry = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isEntry || process.env.TESSERA_CLI_ENTRY === '1') {
  runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  }).then((code) => process.exit(code));
}
