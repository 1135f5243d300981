// One measurement: drive a target for a bounded time and return throughput, latency, failures and
// the server's CPU and memory over that window.
import autocannon from 'autocannon';
import { sampleTree } from './proc.js';

export interface Measurement {
  /** Completed requests (or floor operations) per second. */
  rps: number;
  p50: number;
  p99: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Responses whose status is not the one the scenario expects (2xx, or 304 for conditional GETs). */
  unexpected: number;
  /** Server CPU per completed request in microseconds (user + system, whole process tree). */
  cpuUs: number | undefined;
  /** Peak resident memory of the server process tree, MiB. */
  rssMiB: number | undefined;
  statuses: Record<string, number>;
  /** When the load ran, in µs of the monotonic clock that V8 CPU profiles also use (bench/profile.ts). */
  window: [number, number];
}

/** CLOCK_MONOTONIC in µs: the time base of `.cpuprofile` sample timestamps on Linux. */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** A request for autocannon; `setupRequest`/`onResponse` carry state such as rotating refresh tokens. */
export type LoadRequest = autocannon.Request;

export interface HttpLoad {
  url: string;
  /** Process whose tree is the server (for CPU and RSS); undefined → not measured. */
  pid: number | undefined;
  request: LoadRequest;
  /** Status every response must have; defaults to any 2xx. */
  expect?: number;
}

export async function measureHttp(
  load: HttpLoad,
  durationS: number,
  connections: number,
): Promise<Measurement> {
  const sampler = load.pid ? sampleTree(load.pid) : undefined;
  const started = monotonicUs();
  const instance = autocannon({
    url: load.url,
    connections,
    duration: durationS,
    // Loopback only; a slow answer is a result, not a timeout.
    timeout: 30,
    requests: [load.request],
  }) as unknown as autocannon.Instance & Promise<autocannon.Result>;
  // autocannon's own histogram rounds to whole milliseconds; loopback answers take less than one.
  const latencies: number[] = [];
  instance.on('response', (_client, _status, _bytes, ms: number) => {
    latencies.push(ms);
  });
  const result = await instance;
  const usage = sampler?.stop();
  latencies.sort((a, b) => a - b);
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count ?? 0;
  const total = Object.values(statuses).reduce((a, b) => a + b, 0);
  const expected = Object.entries(statuses)
    .filter(([code]) => (load.expect ? Number(code) === load.expect : code.startsWith('2')))
    .reduce((a, [, n]) => a + n, 0);
  return {
    rps: total / result.duration,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors: result.errors,
    unexpected: total - expected,
    cpuUs: usage && total ? (usage.cpuSeconds * 1e6) / total : undefined,
    rssMiB: usage ? usage.peakRss / 2 ** 20 : undefined,
    statuses,
    window: [started, monotonicUs()],
  };
}

/** Percentile of an ascending array (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}
