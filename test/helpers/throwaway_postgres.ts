import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
// No ava here (redis.js has none either): bench/lib/stack.ts runs these outside a test.
import { freePort } from './redis.js';

/** The PostgreSQL server binaries, if installed (Debian layout); tests that need one skip otherwise. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions)
    if (existsSync(path.join(root, v, 'bin', 'initdb'))) return path.join(root, v, 'bin');
  return undefined;
}

/** initdb and postgres refuse to run as root: drop to the postgres user then. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/** A PostgreSQL the test owns, on a free loopback port, that it can stop and start again. */
export class ThrowawayPostgres {
  private child: ChildProcess | undefined;
  readonly dir: string;
  port = 0;

  constructor(private readonly bin: string) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'tessera-pg-'));
    chmodSync(this.dir, 0o777);
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async init(): Promise<void> {
    const [cmd, args] = asPostgres(path.join(this.bin, 'initdb'), [
      '-D',
      path.join(this.dir, 'data'),
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
    ]);
    execFileSync(cmd, args, { stdio: 'ignore' });
    this.port = await freePort();
  }

  async start(): Promise<void> {
    const [cmd, args] = asPostgres(path.join(this.bin, 'postgres'), [
      '-D',
      path.join(this.dir, 'data'),
      '-p',
      String(this.port),
      '-k',
      this.dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      // Three instances with their pools and listeners (bench/chaos.ts) outgrow the default 100.
      '-c',
      'max_connections=200',
    ]);
    this.child = spawn(cmd, args, { stdio: 'ignore' });
    const isready = path.join(this.bin, 'pg_isready');
    const readyArgs = ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', 'postgres'];
    for (let i = 0; i < 200; i++) {
      try {
        execFileSync(isready, readyArgs, { stdio: 'ignore' });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error('throwaway postgres did not start');
  }

  /**
   * Stops the postmaster the way `pg_ctl stop -m <mode>` does: `fast` (SIGINT) disconnects clients
   * with 57P01 and shuts down cleanly; `immediate` (SIGQUIT) drops them without a goodbye and the
   * next start runs crash recovery (answering 57P03 "starting up" meanwhile).
   */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    // Signal the postmaster itself (runuser does not forward signals). SIGINT is a "fast shutdown":
    // clients are disconnected at once, like a crash from their point of view.
    const pidFile = path.join(this.dir, 'data', 'postmaster.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : child.pid;
    if (pid) process.kill(pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    await exited;
    this.child = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
