import type { Context, Next } from 'koa';
import type { Metric, Registry } from 'prom-client';
import { routeOf } from './request_log.js';

type Labels = { route: string; method: string; status: string };

/** One route + method + status: its request count and latency histogram, as plain numbers. */
interface Series {
  labels: Labels;
  count: number;
  sum: number;
  /** Observations per bucket, not cumulative: the last slot is above the largest bound. */
  buckets: number[];
}

/**
 * `tessera_http_requests_total` and `tessera_http_request_duration_seconds` (docs/monitoring.md),
 * by route pattern, method and status. A request adds to plain numbers of a series bound once;
 * prom-client's own children hash their label object on every call, even bound ones. The series
 * become prom-client samples at scrape time, in the format its Registry (and the WORKERS=n
 * aggregation, cluster.ts) reads from every metric.
 */
export class RequestSeries {
  private readonly series = new Map<string, Series>();

  constructor(
    registry: Pick<Registry, 'registerMetric'>,
    private readonly bounds: readonly number[],
  ) {
    const counter = {
      name: 'tessera_http_requests_total',
      help: 'HTTP requests by route pattern, method and status',
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({ ...counter, values: this.counts() }),
      reset: () => this.series.clear(),
    };
    const histogram = {
      name: 'tessera_http_request_duration_seconds',
      help: 'HTTP request latency by route pattern, method and status',
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({ ...histogram, values: this.histogram(histogram.name) }),
      reset: () => this.series.clear(),
    };
    // Structurally what Registry reads (name, help, type, aggregator, get, reset); not a class of its own.
    registry.registerMetric(counter as unknown as Metric);
    registry.registerMetric(histogram as unknown as Metric);
  }

  /** Counts one request. The set of series is bounded by the route table, the methods and statuses. */
  record(route: string, method: string, status: number, seconds: number): void {
    const key = `${status} ${method} ${route}`;
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { route, method, status: String(status) }, count: 0, sum: 0, buckets: [] };
      s.buckets = new Array<number>(this.bounds.length + 1).fill(0);
      this.series.set(key, s);
    }
    let i = 0;
    while (i < this.bounds.length && seconds > (this.bounds[i] as number)) i++;
    s.buckets[i] = (s.buckets[i] as number) + 1;
    s.count++;
    s.sum += seconds;
  }

  private counts() {
    return [...this.series.values()].map((s) => ({ labels: { ...s.labels }, value: s.count }));
  }

  /** prom-client's histogram samples: cumulative `le` buckets (le first), +Inf, sum and count. */
  private histogram(name: string) {
    return [...this.series.values()].flatMap((s) => {
      let cumulative = 0;
      const buckets = this.bounds.map((le, i) => {
        cumulative += s.buckets[i] as number;
        return { labels: { le, ...s.labels }, value: cumulative, metricName: `${name}_bucket` };
      });
      return [
        ...buckets,
        { labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${name}_bucket` },
        { labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` },
        { labels: { ...s.labels }, value: s.count, metricName: `${name}_count` },
      ];
    });
  }
}

/**
 * Counts and times every request by its route pattern (never the raw path: no token leaks), from
 * before the steps after it to after they answered.
 */
export function requestMetrics(metrics: { requests: RequestSeries }) {
  return async function measure(ctx: Context, next: Next): Promise<void> {
    const start = performance.now();
    try {
      await next();
    } finally {
      metrics.requests.record(routeOf(ctx), ctx.method, ctx.status, (performance.now() - start) / 1000);
    }
  };
}
