import { readFileSync } from 'node:fs';

/**
 * This build's version from package.json, found by walking up from this module: the same code runs
 * from src/ (tsx) and from dist/src/ (compiled), one directory deeper.
 */
export function buildVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'tessera' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not at this level; try the next.
    }
  }
  return 'unknown';
}
