import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** How long the primary waits for workers to finish their requests on SIGTERM before it stops them. */
export const WORKER_STOP_TIMEOUT_MS = 15_000;

export interface ClusterOptions {
  workers: number;
  log: Logger;
  /** Ends the process; injected so a test can observe it. */
  exit?: (code: number) => void;
}

/**
 * The primary of `WORKERS=n` (node:cluster): forks n workers that share the listening port (each
 * with its own database pool and Redis connections) and keeps them running. A worker that dies
 * after it started serving is replaced; one that dies before it ever listened means the
 * configuration or a dependency is broken, so the primary stops them all and exits non-zero
 * instead of fork-looping. SIGTERM/SIGINT stop every worker gracefully, then the primary.
 */
export function runPrimary(options: ClusterOptions): void {
  const { workers, log } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const listening = new WeakSet<Worker>();
  let stopping = false;
  let exitCode = 0;

  const fork = () => {
    const worker = cluster.fork();
    worker.once('listening', () => listening.add(worker));
    return worker;
  };
  const stopAll = (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason, workers: Object.keys(cluster.workers ?? {}).length }, 'stopping workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    // Never hang a deploy: a worker still busy after the timeout is killed.
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    }, WORKER_STOP_TIMEOUT_MS).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) exit(exitCode);
  };

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) exit(exitCode);
      return;
    }
    if (!listening.has(worker)) {
      log.fatal({ pid: worker.process.pid, code, signal }, 'a worker failed to start; stopping');
      stopAll('worker failed to start', 1);
      return;
    }
    log.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a replacement');
    fork();
  });
  process.on('SIGTERM', () => stopAll('SIGTERM', 0));
  process.on('SIGINT', () => stopAll('SIGINT', 0));

  log.info({ workers, pid: process.pid }, 'tessera primary: starting workers');
  for (let i = 0; i < workers; i++) fork();
}
