import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder Tessera is installed in (the one holding its package.json): `/app` in the image, the
 * checkout otherwise. Found by walking up from this module, so it is the same whether the code
 * runs from src/ (tsx) or dist/src/ (node), and whatever the current directory is.
 */
export const INSTALL_ROOT: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
})();

/** The version in package.json: `tessera --version`, and the build_info metric. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(INSTALL_ROOT, 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Relative DATA_DIR and KEYS_DIR are resolved against the install folder, not the current
 * directory: the server and the CLI then find the same embedded database wherever they are run
 * from (a CLI in a subdirectory must never create a second, empty one).
 */
export function fromInstallRoot(dir: string): string {
  return path.resolve(INSTALL_ROOT, dir);
}
