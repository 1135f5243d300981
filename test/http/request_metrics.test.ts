import test from 'ava';
import { AggregatorRegistry, Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { RequestSeries } from '../../src/http/request_metrics.js';

type AnyRegistry = Registry<RegistryContentType>;

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const REQUESTS: [string, string, number, number][] = [
  ['/token', 'POST', 200, 0.0004],
  ['/token', 'POST', 200, 0.001],
  ['/token', 'POST', 200, 0.02],
  ['/token', 'POST', 200, 7],
  ['unmatched', 'GET', 404, 0.003],
];

/** What prom-client's own Counter and Histogram expose for the same requests. */
function reference(registry: AnyRegistry = new Registry()): AnyRegistry {
  const labelNames = ['route', 'method', 'status'];
  const requests = new Counter({
    name: 'tessera_http_requests_total',
    help: 'HTTP requests by route pattern, method and status',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'tessera_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern, method and status',
    labelNames,
    buckets: BUCKETS,
    registers: [registry],
  });
  for (const [route, method, status, seconds] of REQUESTS) {
    requests.inc({ route, method, status: String(status) });
    duration.observe({ route, method, status: String(status) }, seconds);
  }
  return registry;
}

function series(registry: AnyRegistry = new Registry()): AnyRegistry {
  const s = new RequestSeries(registry, BUCKETS);
  for (const [route, method, status, seconds] of REQUESTS) s.record(route, method, status, seconds);
  return registry;
}

// The request series are counted outside prom-client (no label hashing per request): what a
// scrape reads must stay exactly what prom-client's own metrics would say.
test('the request series expose what prom-client would, in both formats and across workers', async (t) => {
  t.is(await series().metrics(), await reference().metrics());
  const openMetrics = () => {
    const registry: AnyRegistry = new Registry();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    return registry;
  };
  t.is(await series(openMetrics()).metrics(), await reference(openMetrics()).metrics());
  // WORKERS=n: the primary sums every worker's JSON (cluster.ts).
  const twice = async (r: () => AnyRegistry) => {
    const json = await Promise.all([r().getMetricsAsJSON(), r().getMetricsAsJSON()]);
    return AggregatorRegistry.aggregate(json).metrics();
  };
  t.is(await twice(series), await twice(reference));
  t.regex(
    await series().metrics(),
    /^tessera_http_request_duration_seconds_bucket\{le="0\.001",route="\/token",method="POST",status="200"\} 2$/m,
  );
});
