import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { createOpsApp } from '../../src/app.js';
import { freePort, useServer } from '../helpers/app.js';
import { createClient, createUser, passwordLogin } from '../helpers/oauth.js';

const text = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
};

test('/metrics tells no failure reason and no username', async (t) => {
  const s = await useServer(t);
  const app = await createClient(s, { name: 'app', grantTypes: ['password'] });
  const real = await createUser(s, 'existing');
  const disabled = await createUser(s, 'disabled');
  await s.services.userAccounts.disable(disabled.username);
  await passwordLogin(s, app, real.username, 'wrong password');
  await passwordLogin(s, app, 'no-such-user-xyz', 'wrong password');
  await passwordLogin(s, app, disabled.username, disabled.password);
  const metrics = await text(`${s.url}/metrics`);
  t.is(metrics.status, 200);
  t.notRegex(metrics.body, /unknown_user|bad_password|disabled|no-such-user|existing/);
  const failed = metrics.body.split('\n').filter((l) => /^tessera_logins_total\{.*outcome="failed"/.test(l));
  t.is(failed.length, 1, 'one series for every failed login');
  t.regex(failed[0] as string, / 3$/);
});

test('OPS_PORT: metrics and health on their own listener; /metrics leaves the public port', async (t) => {
  const s = await useServer(t, { env: { OPS_PORT: String(await freePort()) } });
  const ops = createOpsApp(s.services).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => ops.once('listening', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => ops.close(() => resolve())));
  const opsUrl = `http://127.0.0.1:${(ops.address() as AddressInfo).port}`;

  t.is((await text(`${s.url}/metrics`)).status, 404);
  t.is((await text(`${s.url}/healthz`)).status, 200);
  t.is((await text(`${s.url}/readyz`)).status, 200);
  const metrics = await text(`${opsUrl}/metrics`);
  t.is(metrics.status, 200);
  t.regex(metrics.body, /tessera_http_requests_total/);
  t.is((await text(`${opsUrl}/healthz`)).status, 200);
  t.is((await text(`${opsUrl}/readyz`)).status, 200);
  // Nothing else is served there.
  t.is((await text(`${opsUrl}/.well-known/jwks.json`)).status, 404);
});

test('the server listens on OPS_PORT when it is set', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-ops-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [port, opsPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: '',
      REDIS_URL: '',
      DATA_DIR: path.join(dir, 'data'),
      KEYS_DIR: path.join(dir, 'keys'),
      PORT: String(port),
      OPS_PORT: String(opsPort),
      LOG_LEVEL: 'silent',
    },
    stdio: 'ignore',
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let metrics = { status: 0, body: '' };
  // A cold embedded start (PGlite init, migrations, first keys) is slow on a loaded machine.
  for (let i = 0; i < 1200 && metrics.status !== 200; i++) {
    await sleep(100);
    metrics = await text(`http://127.0.0.1:${opsPort}/metrics`).catch(() => metrics);
  }
  t.is(metrics.status, 200);
  t.is((await text(`http://127.0.0.1:${port}/metrics`)).status, 404);
  t.is((await text(`http://127.0.0.1:${port}/healthz`)).status, 200);
});
