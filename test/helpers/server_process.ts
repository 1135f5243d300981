import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import { freePort } from './app.js';

/**
 * How long a spawned Tessera process (tsx compiling the sources, PGlite starting, migrations)
 * may take to answer: measured at 5–20 s on a quiet 2-core machine and past 60 s at a load
 * average of 25, so generous; a process that exits early still fails at once.
 */
export const PROCESS_START_MS = 150_000;

/**
 * `src/main.ts` as a real process in the embedded mode (fresh DATA_DIR and KEYS_DIR), `env` on top;
 * resolves once /readyz answers 200. Killed and cleaned up when the test ends.
 */
export interface Spawned {
  child: ChildProcess;
  port: number;
  url: string;
  exited: Promise<number | null>;
  output: () => string;
}

async function spawnOnce(t: ExecutionContext, env: Record<string, string>): Promise<Spawned | 'port taken'> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-shutdown-'));
  // A PORT in env is used (a test that must know the URL before the start, e.g. for ISSUER).
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: path.join(dir, 'data'),
      KEYS_DIR: path.join(dir, 'keys'),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + PROCESS_START_MS;
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    // Ready only once this child says it listens: a 200 from a port another file's server took
    // in the meantime must not pass for ours.
    if (res?.status === 200 && output.includes('tessera listening') && child.exitCode === null) break;
    if (child.exitCode !== null && output.includes('EADDRINUSE')) return 'port taken';
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no start: ${output}`);
    await sleep(100);
  }
  return { child, port, url, exited, output: () => output };
}

/**
 * The port is picked free before the child binds it, so a parallel test file can take it in
 * between; the child then exits with EADDRINUSE and another port is tried. A PORT the caller
 * chose (because its env already names the URL) is not replaced.
 */
export async function spawnServer(t: ExecutionContext, env: Record<string, string>): Promise<Spawned> {
  for (let attempt = 1; ; attempt++) {
    const spawned = await spawnOnce(t, env);
    if (spawned !== 'port taken') return spawned;
    if (env.PORT || attempt === 3) throw new Error(`no start: port ${env.PORT ?? ''} taken`);
  }
}
