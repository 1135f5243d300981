import { AccountError } from '../accounts/users.js';
import { buildCommandServices, type Services } from '../compose.js';
import { ConfigError, loadConfig } from '../config.js';
import { EmbeddedDatabaseBusy } from '../db/embedded_lock.js';
import { KeyDecryptionError } from '../keys/key_material.js';
import { KeyLifecycleError } from '../keys/lifecycle.js';
import { createLogger } from '../observability.js';
import { auditCommands } from './audit.js';
import { type Command, coreCommands, UsageError } from './commands.js';
import type { CliIo } from './io.js';
import { keyCommands } from './keys_commands.js';
import { sessionCommands } from './sessions.js';

/** Every command, keyed by its words ("users create"). Later modules add theirs here. */
export const commands: Record<string, Command> = {
  ...coreCommands,
  ...sessionCommands,
  ...keyCommands,
  ...auditCommands,
};

function help(): string {
  const lines = Object.values(commands).map((c) => `  ${c.usage}\n      ${c.summary}`);
  return [
    'usage: tessera <command> [options] [--json]',
    '',
    'Reads the same environment as the server (DATABASE_URL, KEY_ENCRYPTION_KEY, ...).',
    'Passwords come from stdin or a prompt, never from arguments. --json prints one JSON object.',
    'Embedded mode: run the CLI while the server is stopped, or use the admin API.',
    '',
    'commands:',
    ...lines,
    '',
  ].join('\n');
}

function human(result: Record<string, unknown>): string {
  return Object.entries(result)
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v, null, 2) : String(v)}`)
    .join('\n');
}

/** Runs one CLI invocation; returns the exit code. Exported so tests drive it in-process. */
export async function runCli(
  argv: string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  if (args.length === 0 || args[0] === 'help' || args.includes('--help') || args.includes('-h')) {
    io.stdout.write(help());
    return args.length === 0 ? 2 : 0;
  }
  const key = [args.slice(0, 2).join(' '), args[0] ?? ''].find((k) => k in commands);
  const command = key ? commands[key] : undefined;
  if (!key || !command) {
    io.stderr.write(`tessera: unknown command "${args.slice(0, 2).join(' ')}"\n\n${help()}`);
    return 2;
  }
  let services: Services | undefined;
  try {
    const config = loadConfig(env);
    const open = async () => {
      services ??= await buildCommandServices(config, {
        // Logs go to stderr so stdout stays one JSON object.
        log: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr),
        withoutKeys: !command.needsKeys,
        migrations: key === 'migrate' ? 'apply' : undefined,
      });
      return services;
    };
    const result = await command.run({ args: args.slice(key.split(' ').length), io, services: open });
    io.stdout.write(json ? `${JSON.stringify(result)}\n` : `${human(result)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`tessera ${key}: ${err.message}\nusage: tessera ${command.usage}\n`);
      return 2;
    }
    const known =
      err instanceof ConfigError ||
      err instanceof AccountError ||
      err instanceof EmbeddedDatabaseBusy ||
      err instanceof KeyLifecycleError ||
      err instanceof KeyDecryptionError;
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`tessera ${key}: ${known ? message : `failed: ${message}`}\n`);
    return 1;
  } finally {
    await services?.close();
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
