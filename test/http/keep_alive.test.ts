import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { spawnServer } from '../helpers/server_process.js';

// Keep-alive connections (docs/configuration.md, KEEP_ALIVE_TIMEOUT): the server keeps an idle
// connection longer than the pool that reuses it, so a reused connection is never closed under a
// request ("socket hang up"); while draining, every answer closes its connection. A real process.

/** One keep-alive connection on which requests are written by hand, answers read whole. */
async function connection(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let buffered = '';
  let closedAt: number | undefined;
  socket.on('data', (d) => {
    buffered += d;
  });
  socket.on('close', () => {
    closedAt = Date.now();
  });
  socket.on('error', () => {});
  return {
    /** GET path; resolves with the head of the answer (its body is empty or small JSON). */
    async get(path: string): Promise<string> {
      buffered = '';
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
      const deadline = Date.now() + 10_000;
      while (!/\r\n\r\n[\s\S]*\}/.test(buffered) && closedAt === undefined && Date.now() < deadline) {
        await sleep(5);
      }
      return buffered;
    },
    closedAt: () => closedAt,
  };
}

test('an idle keep-alive connection outlives Node’s 5 s default and is reused; the Keep-Alive header announces 65 s', async (t) => {
  const s = await spawnServer(t, {});
  const c = await connection(s.port);
  const first = await c.get('/healthz');
  t.regex(first, /^HTTP\/1\.1 200 /);
  t.regex(first, /\r\nKeep-Alive: timeout=65\r\n/i);
  // Node's default would have closed it after 5 s of idleness, racing the next request.
  await sleep(6_000);
  t.is(c.closedAt(), undefined, 'still open after 6 s idle');
  t.regex(await c.get('/healthz'), /^HTTP\/1\.1 200 /, 'the reused connection answers');
});

test('KEEP_ALIVE_TIMEOUT is honoured: announced, and an idle connection is closed after it', async (t) => {
  const s = await spawnServer(t, { KEEP_ALIVE_TIMEOUT: '1' });
  const c = await connection(s.port);
  const answered = Date.now();
  t.regex(await c.get('/healthz'), /\r\nKeep-Alive: timeout=1\r\n/i);
  const deadline = Date.now() + 5_000;
  while (c.closedAt() === undefined && Date.now() < deadline) await sleep(50);
  const idle = (c.closedAt() ?? Number.POSITIVE_INFINITY) - answered;
  t.true(idle >= 900 && idle < 5_000, `closed by the server after ${idle} ms idle`);
});

test('SIGTERM: while draining, an answer says Connection: close and the server closes that connection', async (t) => {
  const s = await spawnServer(t, { SHUTDOWN_DELAY: '5', SHUTDOWN_TIMEOUT: '5' });
  const c = await connection(s.port);
  t.notRegex(await c.get('/healthz'), /\r\nConnection: close\r\n/i, 'kept alive before the signal');
  s.child.kill('SIGTERM');
  let answer = '';
  for (let i = 0; i < 100 && !/ 503 /.test(answer); i++) {
    await sleep(20);
    answer = await c.get('/readyz');
  }
  t.regex(answer, /^HTTP\/1\.1 503 /, 'not ready while draining');
  t.regex(answer, /\r\nConnection: close\r\n/i);
  t.notRegex(answer, /\r\nRetry-After:/i, 'a draining instance is not coming back');
  const deadline = Date.now() + 2_000;
  while (c.closedAt() === undefined && Date.now() < deadline) await sleep(20);
  t.not(c.closedAt(), undefined, 'closed after the answer, well before the listener stops');
});
