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
