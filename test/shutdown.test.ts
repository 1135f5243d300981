import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { spawnServer } from './helpers/server_process.js';

// Readiness-aware shutdown (docs/monitoring.md, shutdown): on SIGTERM /readyz turns 503 first,
// requests in flight finish, and a forced exit is non-zero. A real process, embedded mode.

/** A POST /token whose body is still being sent: a request in flight for as long as we like. */
async function requestInFlight(port: number) {
  const body = 'grant_type=nonsense';
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let answer = '';
  socket.on('data', (d) => {
    answer += d;
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  socket.write(
    `POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
  );
  return {
    finish: async () => {
      socket.end(body.slice(5));
      await ended;
      return answer;
    },
    ended,
    answer: () => answer,
  };
}

async function readyzStatus(url: string): Promise<{ status: number; body: unknown } | undefined> {
  const res = await fetch(`${url}/readyz`).catch(() => undefined);
  return res ? { status: res.status, body: await res.json() } : undefined;
}

test('SIGTERM: /readyz answers 503 at once, a request in flight still completes, the exit is 0', async (t) => {
  const s = await spawnServer(t, { SHUTDOWN_DELAY: '2', SHUTDOWN_TIMEOUT: '20' });
  const slow = await requestInFlight(s.port);
  s.child.kill('SIGTERM');
  let ready = await readyzStatus(s.url);
  for (let i = 0; ready?.status !== 503 && i < 50; i++) {
    await sleep(20);
    ready = await readyzStatus(s.url);
  }
  t.like(ready, { status: 503, body: { status: 'stopping' } }, 'not ready while draining');
  // Past SHUTDOWN_DELAY: the listener is closed, the request is still in flight.
  const deadline = Date.now() + 20_000;
  while ((await readyzStatus(s.url)) !== undefined && Date.now() < deadline) await sleep(100);
  t.is(s.child.exitCode, null, 'the process waits for the request');
  const answer = await slow.finish();
  t.regex(answer, /^HTTP\/1\.1 401 /, 'the request in flight got its whole answer');
  t.regex(answer, /"error":"invalid_client"/);
  t.is(await s.exited, 0);
});

test('SIGTERM: a request still in flight at SHUTDOWN_TIMEOUT is cut off and the exit is 1', async (t) => {
  const s = await spawnServer(t, { SHUTDOWN_DELAY: '0', SHUTDOWN_TIMEOUT: '1' });
  const slow = await requestInFlight(s.port);
  s.child.kill('SIGTERM');
  t.is(await s.exited, 1, s.output());
  await slow.ended;
  t.regex(s.output(), /forced exit/);
});
