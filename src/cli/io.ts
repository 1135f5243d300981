import { createInterface } from 'node:readline';

export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Ctrl-C at the prompt: nothing was changed; the CLI exits 1 with this one line. */
export class PromptCancelled extends Error {
  constructor() {
    super('cancelled at the password prompt, nothing changed');
  }
}

/** The two entries of a new password at the terminal differ. */
export class PromptMismatch extends Error {
  constructor() {
    super('the two passwords differ, nothing changed');
  }
}

const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const BACKSPACE = new Set(['\u007f', '\b']);

/**
 * One line typed at a terminal with echo off. Enter ends it; Ctrl-D ends it too (on an empty line
 * it is end of input: the empty answer, which the caller refuses as "no password entered");
 * Ctrl-C rejects with PromptCancelled. The terminal is always given back in cooked mode and the
 * stream paused, whichever way the prompt ends, so the process can exit.
 */
function promptHidden(
  stdin: NodeJS.ReadStream,
  stderr: NodeJS.WritableStream,
  prompt: string,
): Promise<string> {
  stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (outcome: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      outcome();
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n' || ch === CTRL_D) return finish(() => resolve(value));
        if (ch === CTRL_C) return finish(() => reject(new PromptCancelled()));
        if (BACKSPACE.has(ch)) value = value.slice(0, -1);
        else if (ch >= ' ') value += ch; // other control characters (arrows, escape) are not part of it
      }
    };
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.resume();
  });
}

/**
 * Secrets come from stdin or a prompt, never argv (argv is visible in `ps` and shell history).
 * Every caller sets a new password (users create, users set-password, docs/cli.md), so at a
 * terminal it is asked twice and must match: a typo with echo off would otherwise lock the user
 * out. Piped input: the first line, asked once (scripts pipe what they mean).
 */
export async function readSecret(io: CliIo, prompt: string): Promise<string> {
  if (io.stdin.isTTY) {
    const stdin = io.stdin as NodeJS.ReadStream;
    const first = await promptHidden(stdin, io.stderr, prompt);
    if (first === '') return first;
    const again = await promptHidden(stdin, io.stderr, 'Repeat to confirm: ');
    if (again !== first) throw new PromptMismatch();
    return first;
  }
  const rl = createInterface({ input: io.stdin });
  for await (const line of rl) {
    rl.close();
    return line.replace(/\r$/, '');
  }
  return '';
}
