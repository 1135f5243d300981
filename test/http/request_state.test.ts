import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const NAMESPACE = path.join(SRC, 'http', 'request_state.ts');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

// Koa types ctx.state as any-extended: a field read or written around src/http/request_state.ts,
// or declared by another augmentation, would compile unchecked. One typed namespace, one module.
test('per-request state is declared in src/http/request_state.ts and used only through it', (t) => {
  const files = sources(SRC).filter((f) => f !== NAMESPACE);
  t.true(files.length > 50);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const name = path.relative(SRC, file);
    t.false(/declare module ['"]koa['"]/.test(text), `${name} augments koa`);
    t.false(/\bctx\.state\b|\.state\s*as\b/.test(text), `${name} reads ctx.state directly`);
  }
  t.regex(readFileSync(NAMESPACE, 'utf8'), /export interface RequestState \{/);
});
