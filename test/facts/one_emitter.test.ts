import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';

const SRC = path.resolve(import.meta.dirname, '../../src');
/** The one module that raises events on the bus (docs/monitoring.md, "Events"). */
const EMITTER = path.join(SRC, 'facts', 'publisher.ts');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

test('only the publisher raises events: facts by FactPublisher, operational signals by emitSignal', (t) => {
  // The bus's event names have a dot (`token.issued`); `events.emit(` is how the bus is held.
  const direct = /\bevents\.emit\(|\.emit\(\s*['"`][a-z_]+\.[a-z_.]+['"`]/;
  const offenders = sources(SRC)
    .filter((file) => file !== EMITTER)
    .flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${path.relative(SRC, file)}:${i + 1}` }))
        .filter(({ line }) => direct.test(line))
        .map(({ at, line }) => `${at}: ${line.trim()}`),
    );
  t.deepEqual(offenders, []);
  t.regex(readFileSync(EMITTER, 'utf8'), /events\.emit\(/);
});
