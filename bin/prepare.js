#!/usr/bin/env node
// `npm ci` runs `prepare`: it compiles dist/ when the compiler is installed. `npm ci --omit=dev`
// has no TypeScript: it must not fail (exit 127, "tsc: not found"). With dist/ present (built
// before, or shipped) it runs as is; without it, say how to get one and succeed, so the install
// completes and `npm start` names the missing build (bin/launch.js). Plain JavaScript on purpose.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * argon2 (password hashing) is a native addon. npm 11 runs no dependency install scripts unless
 * approved, so what loads is argon2's bundled prebuilt binary, and on some machines that binary
 * crashes Node at load (seen: argon2 0.45.1's linux-x64 glibc build on Node 20.20, a segfault in
 * napi_module_register_by_symbol). Check it in a child process (a crash must not take this one
 * down) and compile it from source with npm's own node-gyp when it does not load.
 */
function argon2Loads() {
  const r = spawnSync(process.execPath, ['-e', "require('argon2')"], { cwd: root, stdio: 'ignore' });
  return r.status === 0;
}
const argon2Dir = path.join(root, 'node_modules', 'argon2');
if (existsSync(argon2Dir) && !argon2Loads()) {
  const npmGyp = path.join(
    path.dirname(process.env.npm_execpath ?? ''),
    '..',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  const gyp = process.env.npm_config_node_gyp || npmGyp;
  process.stderr.write(
    'tessera: the prebuilt argon2 binary does not load here; compiling it (needs python3, make, g++)\n',
  );
  const built = existsSync(gyp)
    ? spawnSync(process.execPath, [gyp, 'rebuild'], {
        cwd: argon2Dir,
        stdio: ['ignore', 'ignore', 'inherit'],
      })
    : undefined;
  if (built?.status !== 0 || !argon2Loads()) {
    process.stderr.write(
      'tessera: argon2 could not be compiled: install python3, make and g++, then run npm ci again\n',
    );
    process.exit(1);
  }
}
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

if (!existsSync(tsc)) {
  const built = existsSync(path.join(root, 'dist', 'src', 'main.js'));
  process.stderr.write(
    built
      ? 'tessera: no TypeScript installed (--omit=dev): using the dist/ already built\n'
      : 'tessera: no TypeScript installed (--omit=dev) and no dist/: build first (npm ci && npm run build), then npm ci --omit=dev\n',
  );
  process.exit(0);
}
const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
