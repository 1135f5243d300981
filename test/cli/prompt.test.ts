import { PassThrough } from 'node:stream';
import test from 'ava';
import { type CliIo, PromptCancelled, PromptMismatch, readSecret } from '../../src/cli/io.js';

/** A terminal stand-in: keystrokes written in, raw mode recorded (the prompt must restore it). */
function terminal() {
  const stdin = Object.assign(new PassThrough(), {
    isTTY: true,
    raw: false,
    setRawMode(on: boolean) {
      stdin.raw = on;
      return stdin;
    },
  });
  const stderr = new PassThrough();
  let shown = '';
  stderr.on('data', (c) => {
    shown += c;
  });
  const io: CliIo = { stdin, stdout: new PassThrough(), stderr };
  /** Types each string once the previous prompt is shown. */
  const type = async (...keys: string[]) => {
    for (const k of keys) {
      await new Promise((r) => setTimeout(r, 20));
      stdin.write(k);
    }
  };
  return { io, stdin, type, shown: () => shown };
}

test('a new password is asked twice at a terminal, echo off, and the terminal is given back', async (t) => {
  const term = terminal();
  const answer = readSecret(term.io, 'New password: ');
  await term.type('s3cret pa\u007fass\r', 's3cret pass\r');
  t.is(await answer, 's3cret pass');
  t.false(term.stdin.raw, 'cooked mode again');
  t.false(term.shown().includes('s3cret'), 'never echoed');
  t.regex(term.shown(), /New password: \nRepeat to confirm: \n/);
});

test('two different entries are refused', async (t) => {
  const term = terminal();
  const answer = readSecret(term.io, 'New password: ');
  await term.type('first one!\r', 'second one\r');
  await t.throwsAsync(answer, { instanceOf: PromptMismatch });
  t.false(term.stdin.raw);
});

test('Ctrl-C cancels cleanly', async (t) => {
  const term = terminal();
  const answer = readSecret(term.io, 'New password: ');
  await term.type('half\u0003');
  await t.throwsAsync(answer, { instanceOf: PromptCancelled });
  t.false(term.stdin.raw);
  t.true(term.stdin.isPaused(), 'stdin no longer holds the process open');
});

test('Ctrl-D on an empty line is end of input: the empty answer, not asked again', async (t) => {
  const term = terminal();
  const answer = readSecret(term.io, 'New password: ');
  await term.type('\u0004');
  t.is(await answer, '');
  t.false(term.stdin.raw);
  t.notRegex(term.shown(), /Repeat/);
});

test('Ctrl-D after typing ends the line like Enter', async (t) => {
  const term = terminal();
  const answer = readSecret(term.io, 'New password: ');
  await term.type('long enough\u0004', 'long enough\u0004');
  t.is(await answer, 'long enough');
});

test('piped stdin: the first line, asked once', async (t) => {
  const stdin = new PassThrough();
  stdin.end('piped password\r\nsecond line\n');
  t.is(
    await readSecret({ stdin, stdout: new PassThrough(), stderr: new PassThrough() }, 'x'),
    'piped password',
  );
});
