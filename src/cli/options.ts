import { parseArgs } from 'node:util';
import { closest } from './suggest.js';

export class UsageError extends Error {}

/**
 * One flag of a command. The same table parses the arguments and writes `--help` and the usage
 * line, so a flag cannot be accepted without being documented (docs/cli.md).
 */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Repeatable: `--audience A --audience B`. */
  multiple?: boolean;
  /** The placeholder in the usage line (`--name N`); strings only. */
  value?: string;
  description: string;
  /** What applies when the flag is absent, shown in --help. */
  default?: string;
  required?: boolean;
}

export type OptionTable = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean | undefined
  : S['multiple'] extends true
    ? string[] | undefined
    : string | undefined;

export type OptionValues<O extends OptionTable> = { [K in keyof O]: ValueOf<O[K]> };

/** The flags every command takes (handled by the runner, listed in every --help). */
export const COMMON_OPTIONS: OptionTable = {
  json: { type: 'boolean', description: 'print one JSON object on stdout instead of a table' },
  help: { type: 'boolean', description: 'this help; opens nothing' },
};

function flagUsage(name: string, spec: OptionSpec): string {
  const flag =
    spec.type === 'boolean'
      ? `--${name}`
      : `--${name} ${spec.value ?? 'VALUE'}${spec.multiple ? ' ...' : ''}`;
  return spec.required ? flag : `[${flag}]`;
}

export function usageLine(words: string, options: OptionTable, positionals: string[] = []): string {
  return [words, ...positionals, ...Object.entries(options).map(([n, s]) => flagUsage(n, s))].join(' ');
}

/** The options section of --help: one aligned line per flag, with its default. */
export function optionsHelp(options: OptionTable): string {
  const rows = Object.entries({ ...options, ...COMMON_OPTIONS }).map(([name, spec]) => {
    const flag = spec.type === 'boolean' ? `--${name}` : `--${name} ${spec.value ?? 'VALUE'}`;
    const notes = [
      spec.required ? 'required' : undefined,
      spec.multiple ? 'repeatable' : undefined,
      spec.default !== undefined ? `default: ${spec.default}` : undefined,
    ].filter(Boolean);
    return [flag, `${spec.description}${notes.length ? ` (${notes.join('; ')})` : ''}`] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`).join('\n');
}

/** The option a parseArgs error is about: its messages quote it ('--nme'). */
const quotedOption = (message: string) => /'(--?[^'\s]+)/.exec(message)?.[1];

/**
 * Parses a command's arguments against its table. Errors are one line for a person (an unknown
 * flag names the closest known one), never Node's parseArgs text.
 */
export function parseOptions<O extends OptionTable>(
  args: string[],
  options: O,
  allowPositionals = false,
): { values: OptionValues<O>; positionals: string[] } {
  const config = Object.fromEntries(
    Object.entries(options).map(([n, s]) => [n, { type: s.type, multiple: s.multiple ?? false }]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: config, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const message = err instanceof Error ? err.message : String(err);
    const flag = quotedOption(message) ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const suggestion = closest(flag.replace(/^-+/, ''), Object.keys(options));
      throw new UsageError(`unknown option ${flag}${suggestion ? ` (did you mean --${suggestion}?)` : ''}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = flag.replace(/^-+/, '').split(/\s/)[0] ?? '';
      throw new UsageError(
        options[name]?.type === 'boolean' ? `--${name} takes no value` : `--${name} needs a value`,
      );
    }
    throw new UsageError(message.split('\n')[0] ?? message);
  }
  if (!allowPositionals && parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
  }
  for (const [name, spec] of Object.entries(options)) {
    const v = parsed.values[name];
    if (spec.required && (v === undefined || v === '')) throw new UsageError(`--${name} is required`);
  }
  return { values: parsed.values as OptionValues<O>, positionals: parsed.positionals };
}
