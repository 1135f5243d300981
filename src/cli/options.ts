import { type Command as Commander, Option } from 'commander';

/** A usage error found after parsing (a bad grant, a bad --limit): exit 2 with the usage line. */
export class UsageError extends Error {}

/**
 * A flag the command cannot run without. Checked after parsing (cli/program.ts), not with
 * commander's makeOptionMandatory(): commander checks mandatory options before unknown ones, and
 * `clients create --nme x` should say "did you mean --name?", not "--name is required".
 */
export class RequiredOption extends Option {}

/** Repeatable flags collect their values: `--audience A --audience B`. */
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

interface ValueSpec {
  required?: boolean;
  /**
   * What applies when the flag is absent, for --help only: the default itself lives in the domain
   * (accounts/, audit/), shared with the admin API, so the CLI passes nothing rather than a copy.
   */
  default?: string;
  repeatable?: boolean;
}

/** `--name N`: a flag with a value; N is the placeholder shown in --help and the usage line. */
export function value(name: string, placeholder: string, description: string, spec: ValueSpec = {}): Option {
  const flags = `--${name} <${placeholder}>`;
  const option = spec.required ? new RequiredOption(flags, description) : new Option(flags, description);
  if (spec.repeatable) option.argParser(collect);
  if (spec.default !== undefined) option.default(undefined, spec.default);
  return option;
}

/** `--force`: a boolean flag. */
export const flag = (name: string, description: string) => new Option(`--${name}`, description);

export const isRepeatable = (option: Option) => option.parseArg === collect;

/** `--name <N>` as Tessera's docs write it: `--name N`. */
export const optionTerm = (option: Option) => option.flags.replace(/[<>]/g, '');

/** The notes after a flag's description in --help: `(required)`, `(repeatable; default: read)`. */
export function optionNotes(option: Option): string[] {
  return [
    option instanceof RequiredOption ? 'required' : undefined,
    isRepeatable(option) ? 'repeatable' : undefined,
    option.defaultValueDescription ? `default: ${option.defaultValueDescription}` : undefined,
  ].filter((n): n is string => n !== undefined);
}

/**
 * The usage line of a leaf command from its own options and arguments, as docs/cli.md writes it:
 * `clients create --name N [--grants G,...] [--audience URI ...]`. Commander's own is `[options]`.
 */
export function usageLine(command: Commander): string {
  const flags = command.options.map((o) => {
    const term = `${optionTerm(o)}${isRepeatable(o) ? ' ...' : ''}`;
    return o instanceof RequiredOption ? term : `[${term}]`;
  });
  const args = command.registeredArguments.map((a) => (a.required ? a.name() : `[${a.name()}]`));
  // --json is the program's (it may stand anywhere), shown here as every command takes it.
  return [...args, ...flags, '[--json]'].join(' ');
}

/** Required flags that are absent or empty, for the first usage error after parsing. */
export function missingRequired(command: Commander): Option | undefined {
  return command.options.find((o) => {
    if (!(o instanceof RequiredOption)) return false;
    const v = command.getOptionValue(o.attributeName());
    return v === undefined || v === '';
  });
}
