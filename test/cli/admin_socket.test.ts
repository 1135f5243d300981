import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { adminSocketPath } from '../../src/cli/admin_socket.js';
import { freePort } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';

/** docs/cli.md#a-running-embedded-server: the CLI drives a running embedded server, no stop needed. */

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 120_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function request(socket: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const conn = createConnection(socket, () => conn.write(line));
    conn.setEncoding('utf8');
    conn.on('data', (c: string) => {
      data += c;
    });
    conn.on('end', () => resolve(data));
    conn.on('error', reject);
  });
}

test.serial(
  'a running embedded server takes CLI commands on DATA_DIR/admin.sock (0600), and removes it on stop',
  async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tessera-sock-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const env = { DATA_DIR: path.join(dir, 'data'), KEYS_DIR: path.join(dir, 'keys'), LOG_LEVEL: 'info' };
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d) => {
      output += d;
    });
    child.stderr?.on('data', (d) => {
      output += d;
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    t.teardown(() => {
      child.kill('SIGKILL');
    });
    const socket = adminSocketPath(env.DATA_DIR);
    await until(`the admin socket (${output})`, () => output.includes('admin socket listening'));
    t.is(statSync(socket).mode & 0o777, 0o600);
    t.is(statSync(env.DATA_DIR).mode & 0o777, 0o700, 'only the owner of DATA_DIR can reach the socket');

    const cliEnv = { ...env, LOG_LEVEL: 'silent' };
    const created = await cli(
      ['users', 'create', '--username', 'sockuser', '--json'],
      cliEnv,
      'a-long-enough-pass\n',
    );
    t.is(created.code, 0, created.stderr);
    t.is(JSON.parse(created.stdout).username, 'sockuser');
    const users = await cli(['users', 'list'], cliEnv);
    t.is(users.code, 0, users.stderr);
    t.regex(users.stdout, /^\S+ +sockuser/m, 'the human table, made in the server');
    const rotated = await cli(['keys', 'rotate', '--force', '--json'], cliEnv);
    t.is(rotated.code, 0, rotated.stderr);
    t.true(JSON.parse(rotated.stdout).rotated);
    const noPassword = await cli(['users', 'set-password', '--username', 'sockuser'], cliEnv, '');
    t.is(noPassword.code, 2);
    t.regex(noPassword.stderr, /no password on stdin/);

    t.deepEqual(JSON.parse(await request(socket, 'not json\n')), {
      code: 2,
      stdout: '',
      stderr: 'tessera: malformed admin socket request\n',
    });

    child.kill('SIGTERM');
    await exited;
    t.false(existsSync(socket), 'removed on stop');
    // With the server stopped the CLI opens the database itself, as before.
    const after = await cli(['users', 'list', '--json'], cliEnv);
    t.is(after.code, 0, after.stderr);
    t.true((JSON.parse(after.stdout).users as { username: string }[]).some((u) => u.username === 'sockuser'));
  },
);
