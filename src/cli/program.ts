import { Command as Commander, type CommanderError, type Help } from 'commander';
import { packageVersion } from '../install_root.js';
import type { Command } from './commands.js';
import type { CliIo } from './io.js';
import { missingRequired, optionNotes, optionTerm, usageLine } from './options.js';

/**
 * The command line, parsed by commander (docs/cli.md#why-commander): flags, --help with every
 * option and its default, "did you mean" for a mistyped command or flag. What stays here is
 * Tessera's own wording of commander's errors and of its help layout.
 */

/** The command groups (`tessera users ...`): their line in `tessera --help`. */
const GROUPS: Record<string, string> = {
  users: 'user accounts: create, list, disable, set a password',
  clients: 'OAuth clients: register, list, disable, rotate a secret',
  sessions: "a user's live sessions: list, end them all",
  keys: 'signing keys: list, rotate, revoke, rewrap under a new KEK',
  audit: 'the audit trail, newest first',
  consents: "users' consents to third-party clients",
};

const ROOT_DESCRIPTION = [
  'Reads the same environment as the server (DATABASE_URL, REDIS_URL, DATA_DIR, ...).',
  'Only keys rotate, keys revoke and keys rewrap need KEY_ENCRYPTION_KEY. Passwords come from',
  'stdin or a prompt, never from arguments. Output is a table for people; --json (anywhere) prints',
  'one JSON object on stdout. Errors go to stderr with exit 1 (failure) or 2 (usage).',
  'Embedded mode: the database is DATA_DIR (relative to the Tessera folder). While the server',
  'runs, the CLI sends its commands to it over the admin socket in DATA_DIR (docs/cli.md).',
  '',
  'tessera <command> --help (or tessera help <command>) lists its options and their defaults.',
].join('\n');

/** A command line commander accepted: the command to run and its parsed flags. */
export interface ParsedLine {
  key: string;
  command: Command;
  /** Commander's values, keyed by attribute name (`--client-id` is `clientId`). */
  values: Record<string, unknown>;
  positionals: string[];
  json: boolean;
  /** `audit list [--type T] ...`, for the usage line under a usage error. */
  usage: string;
}

/** Either a command to run, or the exit code of a line already answered (help, version, error). */
export type CommandLine = ParsedLine | { exit: number };

class VersionRequested extends Error {}

/** A commander error (thrown by exitOverride) with the command it is about. */
class LineError extends Error {
  constructor(
    readonly error: CommanderError,
    readonly at: Commander,
  ) {
    super(error.message);
  }
}

/** `clients create` for that leaf, `clients` for the group, '' for the program. */
function pathOf(command: Commander): string {
  const names: string[] = [];
  for (let c: Commander | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Help lines as docs/cli.md writes them: `--name N`, `(required; default: ...)`, full paths. */
const HELP: Partial<Help> = {
  showGlobalOptions: true,
  sortSubcommands: false,
  styleTitle: (title) => title.toLowerCase(),
  optionTerm,
  optionDescription(option) {
    const notes = optionNotes(option);
    return notes.length > 0 ? `${option.description} (${notes.join('; ')})` : option.description;
  },
  subcommandTerm: (c) =>
    c.commands.length > 0 ? `${pathOf(c)} ${c.commands.map((s) => s.name()).join('|')}` : pathOf(c),
};

/** A terminal wraps help at its width; piped help is not wrapped, so grep finds whole lines. */
const widthOf = (stream: NodeJS.WritableStream) => {
  const tty = stream as { isTTY?: boolean; columns?: number };
  return tty.isTTY && tty.columns ? tty.columns : 10_000;
};

function build(commands: Record<string, Command>, io: CliIo, chosen: (p: Chosen) => void): Commander {
  const program = new Commander('tessera')
    .usage('<command> [options] [--json]')
    .description(ROOT_DESCRIPTION)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Errors are written in Tessera's words (report below), never commander's.
      outputError: () => {},
      getOutHelpWidth: () => widthOf(io.stdout),
      getErrHelpWidth: () => widthOf(io.stderr),
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .configureHelp(HELP)
    .helpOption('-h, --help', 'this help; opens nothing')
    // `tessera help keys rotate` is rewritten to `keys rotate --help` (parseCommandLine).
    .helpCommand(false)
    .showSuggestionAfterError()
    .exitOverride()
    .option('--json', 'print one JSON object on stdout instead of a table')
    .option('--version', 'print the version (with --json: {"version"})');
  program.on('option:version', () => {
    throw new VersionRequested();
  });
  const groups = new Map<string, Commander>();
  for (const [key, command] of Object.entries(commands)) {
    const [first, second] = key.split(' ') as [string, string | undefined];
    let parent = program;
    if (second !== undefined) {
      parent =
        groups.get(first) ??
        program
          .command(first)
          .usage('<command> [options]')
          .helpCommand(false)
          .description(GROUPS[first] ?? '')
          .summary(GROUPS[first] ?? '');
      groups.set(first, parent);
    }
    const leaf = parent.command(second ?? first).description(command.summary);
    for (const [name, description] of command.arguments ?? []) leaf.argument(name, description);
    for (const option of command.options ?? []) leaf.addOption(option);
    // Kids are base64url and may start with "-": there, an unknown "flag" is the argument.
    if (command.positionalsMayStartWithDash) leaf.allowUnknownOption();
    leaf.usage(`${usageLine(leaf)}${command.note ? `   ${command.note}` : ''}`);
    const after = [
      command.details,
      command.needsKek ? 'Needs KEY_ENCRYPTION_KEY (or KEY_ENCRYPTION_KEY_FILE).' : undefined,
    ].filter(Boolean);
    if (after.length > 0) leaf.addHelpText('after', `\n${after.join('\n\n')}\n`);
    leaf.action(() => chosen({ key, command, leaf }));
  }
  const all = (c: Commander): Commander[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program))
    c.exitOverride((error) => {
      throw new LineError(error, c);
    });
  return program;
}

interface Chosen {
  key: string;
  command: Command;
  leaf: Commander;
}

/** `(did you mean --name?)` from commander's `\n(Did you mean --name?)` or `one of a, b`. */
function didYouMean(message: string, quote: (candidate: string) => string): string {
  const m = /\(Did you mean (?:one of )?(.+)\?\)$/.exec(message);
  return m?.[1] ? ` (did you mean ${m[1].split(', ').map(quote).join(' or ')}?)` : '';
}

/** Commander's error as one line of Tessera's (the flag without its placeholder). */
function inTesseraWords(error: CommanderError, at: Commander): string {
  const quoted = /'([^']*)'/.exec(error.message)?.[1] ?? '';
  const flagName = quoted.split(' ')[0];
  switch (error.code) {
    case 'commander.unknownOption':
      return `unknown option ${quoted}${didYouMean(error.message, (s) => s)}`;
    case 'commander.optionMissingArgument':
      return `${flagName} needs a value`;
    case 'commander.missingArgument':
      return `${quoted} is required`;
    case 'commander.excessArguments':
      return `unexpected argument "${at.args[at.registeredArguments.length]}"`;
    default:
      return (error.message.replace(/^error: /, '').split('\n')[0] as string).trim();
  }
}

/** The usage error lines every command writes: the reason, then its usage. */
export function usageError(path: string, usage: string, reason: string): string {
  const where = path ? `tessera ${path}` : 'tessera';
  return `${where}: ${reason}\nusage: tessera ${usage}   (--help explains each option)\n`;
}

/** What a commander error prints (help went out already) and its exit code: 0 help, 2 usage. */
function report({ error, at }: LineError, io: CliIo): number {
  if (error.code === 'commander.helpDisplayed') return 0;
  // `tessera` or `tessera users` alone: commander wrote the help to stderr.
  if (error.code === 'commander.help') return 2;
  const path = pathOf(at);
  if (error.code === 'commander.unknownCommand') {
    const typed = /'([^']*)'/.exec(error.message)?.[1] ?? '';
    const full = (name: string) => [path, name].filter(Boolean).join(' ');
    const hint = didYouMean(error.message, (c) => `"${full(c)}"`);
    const more = path ? `tessera ${path} --help` : 'tessera --help';
    io.stderr.write(`tessera: unknown command "${full(typed)}"${hint}; ${more} lists the commands\n`);
    return 2;
  }
  io.stderr.write(usageError(path, [path, at.usage()].filter(Boolean).join(' '), inTesseraWords(error, at)));
  return 2;
}

/**
 * Parses one command line. Help, version and usage errors are answered here, before anything
 * opens; a valid line comes back as the command to run with its values.
 */
export async function parseCommandLine(
  argv: string[],
  commands: Record<string, Command>,
  io: CliIo,
): Promise<CommandLine> {
  // `tessera help keys rotate` is `tessera keys rotate --help` (commander's own help command
  // would show the group's help for `help keys rotate`).
  const line = argv[0] === 'help' ? [...argv.slice(1), '--help'] : argv;
  let picked: Chosen | undefined;
  const program = build(commands, io, (c) => {
    picked = c;
  });
  try {
    await program.parseAsync(line, { from: 'user' });
  } catch (err) {
    if (err instanceof VersionRequested) {
      // Answered as soon as commander meets --version: a --json after it is not parsed yet.
      const version = packageVersion();
      io.stdout.write(line.includes('--json') ? `${JSON.stringify({ version })}\n` : `tessera ${version}\n`);
      return { exit: 0 };
    }
    if (err instanceof LineError) return { exit: report(err, io) };
    throw err;
  }
  if (!picked) return { exit: 2 };
  const { key, command, leaf } = picked;
  const usage = `${key} ${leaf.usage()}`;
  const missing = missingRequired(leaf);
  if (missing) {
    io.stderr.write(usageError(key, usage, `${missing.long} is required`));
    return { exit: 2 };
  }
  return {
    key,
    command,
    values: leaf.opts(),
    positionals: [...leaf.args],
    json: program.opts().json === true,
    usage,
  };
}
