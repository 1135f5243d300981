import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';

const METRICS_REQUEST = 'tessera:cluster-metrics-request';
const METRICS_ANSWER = 'tessera:cluster-metrics-answer';
/** A scrape waits at most this long for the primary, then answers with this worker's own metrics. */
const METRICS_TIMEOUT_MS = 5_000;

/**
 * The primary's half of `/metrics` under WORKERS=n: whichever worker a scrape reaches asks the
 * primary, which collects every worker's registry (prom-client's AggregatorRegistry: counters and
 * histograms summed, gauges by their own aggregator) and answers with the one text.
 */
export function answerMetricsRequests(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: { type?: string; id?: number }) => {
    if (message?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: METRICS_ANSWER, id: message.id, text }),
      () => worker.send({ type: METRICS_ANSWER, id: message.id }),
    );
  });
}

/**
 * The worker's half: its registry answers the primary's collection, and its `metrics()` (what
 * `/metrics` serves) becomes the cluster-wide text. A primary that does not answer in time leaves
 * the worker's own metrics, so a scrape never hangs.
 */
export function shareMetricsWithPrimary(registry: Registry): void {
  if (!cluster.isWorker || !process.send) return;
  // Constructing it registers the worker's listener for the primary's collection requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const own = registry.metrics.bind(registry);
  let next = 0;
  registry.metrics = () =>
    new Promise<string>((resolve) => {
      const id = next++;
      const timer = setTimeout(() => finish(undefined), METRICS_TIMEOUT_MS);
      const onMessage = (m: { type?: string; id?: number; text?: string }) => {
        if (m?.type === METRICS_ANSWER && m.id === id) finish(m.text);
      };
      function finish(text: string | undefined) {
        clearTimeout(timer);
        process.off('message', onMessage);
        resolve(text ?? own());
      }
      process.on('message', onMessage);
      process.send?.({ type: METRICS_REQUEST, id });
    });
}

/**
 * How long beyond a worker's own deadline (SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT, after which the
 * worker cuts its requests off and exits 1 by itself) the primary waits before it kills one.
 */
export const WORKER_STOP_MARGIN_MS = 5_000;

export interface ClusterOptions {
  workers: number;
  log: Logger;
  /** Ends the process; injected so a test can observe it. */
  exit?: (code: number) => void;
  /** A worker's own drain deadline, SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT in ms (docs/monitoring.md). */
  workerDeadlineMs: number;
}

/**
 * The primary of `WORKERS=n` (node:cluster): forks n workers that share the listening port (each
 * with its own database pool and Redis connections) and keeps them running. A worker that dies
 * after it started serving is replaced; one that dies before it ever listened means the
 * configuration or a dependency is broken, so the primary stops them all and exits non-zero
 * instead of fork-looping. SIGTERM/SIGINT stop every worker gracefully, then the primary: it
 * exits 0 only when every worker exited 0; a worker that was cut off (it exits 1 at its
 * SHUTDOWN_TIMEOUT) or that the primary had to kill makes the primary exit 1 too, so a forced
 * stop is visible to the supervisor whatever WORKERS is.
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
    // Never hang a deploy: a worker still there after its own deadline is killed.
    setTimeout(() => {
      const left = Object.values(cluster.workers ?? {});
      if (left.length === 0) return;
      log.warn({ workers: left.length }, 'workers still running past their shutdown deadline: killed');
      exitCode = 1;
      for (const w of left) w?.process.kill('SIGKILL');
    }, options.workerDeadlineMs + WORKER_STOP_MARGIN_MS).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) exit(exitCode);
  };

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (code !== 0) {
        log.warn({ pid: worker.process.pid, code, signal }, 'a worker did not stop cleanly');
        exitCode = 1;
      }
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

  answerMetricsRequests();
  log.info({ workers, pid: process.pid }, 'tessera primary: starting workers');
  for (let i = 0; i < workers; i++) fork();
}
