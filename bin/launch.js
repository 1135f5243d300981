// Starts a Tessera entry point: the compiled JavaScript in dist/ (built at install time by the
// `prepare` script), or the TypeScript source through tsx when dist/ is missing or older than the
// source (a checkout edited or pulled since the last build). Plain JavaScript on purpose: it must
// run before anything is compiled, and without devDependencies when dist/ is current.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Newest modification time under the given folders (0 when none exist, as in the image). */
function newestSource(dirs) {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else newest = Math.max(newest, statSync(full).mtimeMs);
    }
  };
  for (const d of dirs) if (existsSync(path.join(root, d))) walk(path.join(root, d));
  return newest;
}

function tsxAvailable() {
  return existsSync(path.join(root, 'node_modules', 'tsx'));
}

/** @param {string} entry e.g. "src/main" (no extension) */
export async function launch(entry) {
  const compiled = path.join(root, 'dist', `${entry}.js`);
  const source = path.join(root, `${entry}.ts`);
  const built = existsSync(compiled) ? statSync(compiled).mtimeMs : 0;
  const stale = existsSync(source) && newestSource(['src', 'migrations']) > built;
  if (built && !stale) return import(pathToFileURL(compiled).href);
  if (existsSync(source) && tsxAvailable()) {
    if (built)
      process.stderr.write(
        'tessera: dist/ is older than src/; running the source (npm run build to compile)\n',
      );
    const { register } = await import('tsx/esm/api');
    register();
    return import(pathToFileURL(source).href);
  }
  if (built) {
    process.stderr.write(
      'tessera: dist/ is older than src/ and tsx is not installed; running dist/ (npm run build)\n',
    );
    return import(pathToFileURL(compiled).href);
  }
  process.stderr.write(
    `tessera: not built (no ${path.relative(root, compiled)}): run \`npm ci\` or \`npm run build\` in ${root}\n`,
  );
  process.exit(1);
}
