import test from 'ava';
import { DEFAULT_PASSWORD_HASHING } from '../../src/tokens/passwords.js';
import { useServer } from '../helpers/app.js';
import {
  basic,
  clientCredentials,
  createClient,
  createResourceServer,
  introspect,
  postForm,
} from '../helpers/oauth.js';

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

/** Sequential introspections for `ms`, returning each one's latency in ms. */
async function introspectionLatencies(run: () => Promise<unknown>, until: () => boolean, min = 20) {
  const latencies: number[] = [];
  while (latencies.length < min || !until()) {
    const start = performance.now();
    await run();
    latencies.push(performance.now() - start);
  }
  return latencies;
}

// argon2id and WebCrypto share libuv's thread pool: a flood of logins must not starve token checks.
test('introspection stays fast during a login flood; the flood gets 400 or 503 with Retry-After', async (t) => {
  const s = await useServer(t, {
    // Production cost, so the flood really occupies the thread pool.
    hashing: DEFAULT_PASSWORD_HASHING,
    // A distributed flood: per-IP and per-pair limits are not what is under test here.
    env: { RATE_LIMIT_IP_FAILURES_PER_HOUR: '10000000', RATE_LIMIT_CLIENT_PER_MINUTE: '100000000' },
  });
  const app = await createClient(s, { name: 'app', grantTypes: ['password', 'client_credentials'] });
  const rs = await createResourceServer(s, [s.services.config.issuer]);
  const token = (await clientCredentials(s, app)).body.access_token as string;
  const check = async () => {
    const res = await introspect(s, rs, token);
    if (res.body.active !== true) throw new Error(`introspection failed: ${res.status}`);
  };
  await check();
  const idle = await introspectionLatencies(check, () => true, 30);

  let done = false;
  const floodStarted = performance.now();
  const statuses = new Map<number, number>();
  let retryAfterMissing = 0;
  const flood = Array.from({ length: 150 }, (_, i) =>
    postForm(
      `${s.url}/token`,
      { grant_type: 'password', username: `flood${i}`, password: 'wrong password' },
      { authorization: basic(app.client_id, app.client_secret ?? '') },
    ).then((res) => {
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 503 && !res.headers.get('retry-after')) retryAfterMissing++;
    }),
  );
  // Samples from the first flood answer (every flood request has been accepted and is hashing or
  // queued) until the last: what a token check meets while the hashing backlog drains.
  await Promise.race(flood);
  const during = introspectionLatencies(check, () => done, 1);
  await Promise.all(flood);
  const floodMs = performance.now() - floodStarted;
  done = true;
  const busy = await during;

  const report = (name: string, v: number[]) =>
    `${name}: n=${v.length} p50=${percentile(v, 50).toFixed(1)}ms p95=${percentile(v, 95).toFixed(1)}ms max=${Math.max(...v).toFixed(1)}ms`;
  t.log(report('idle', idle));
  t.log(report('during flood', busy));
  t.log(`flood answers: ${JSON.stringify(Object.fromEntries(statuses))} in ${floodMs.toFixed(0)} ms`);

  t.deepEqual(
    [...statuses.keys()].filter((code) => code !== 400 && code !== 503),
    [],
    'the flood gets invalid_grant or 503, nothing else',
  );
  t.is(retryAfterMissing, 0);
  // Loose bounds, relative to the flood (CI machines are shared and slow down everything alike):
  // with a starved thread pool a token check waits for most of the hashing backlog, so it takes
  // about as long as the flood itself; here it must take a small part of it.
  t.true(
    percentile(busy, 50) < floodMs / 5,
    `${report('during flood', busy)}, flood ${floodMs.toFixed(0)} ms`,
  );
  t.true(
    Math.max(...busy) < floodMs * 0.6,
    `${report('during flood', busy)}, flood ${floodMs.toFixed(0)} ms`,
  );
});
