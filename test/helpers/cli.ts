import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { ExecutionContext } from 'ava';
import { runCli } from '../../src/cli/main.js';
import type { Services } from '../../src/compose.js';
import { sharedRedisEnv, TEST_KEK } from './app.js';
import type { TestDatabase } from './database.js';

/** Environment for an in-process CLI run against `database` (embedded: a temporary DATA_DIR). */
export function cliEnv(
  t: ExecutionContext,
  database: TestDatabase | undefined,
  extra: Record<string, string> = {},
) {
  const env: Record<string, string> = {
    KEY_ENCRYPTION_KEY: TEST_KEK,
    LOG_LEVEL: 'silent',
    ...sharedRedisEnv(),
    ...extra,
  };
  if (database?.url) env.DATABASE_URL = database.url;
  else {
    const dir = mkdtempSync(path.join(tmpdir(), 'tessera-cli-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    env.DATA_DIR = path.join(dir, 'data');
    env.KEYS_DIR = path.join(dir, 'keys');
  }
  return env;
}

/** Runs the CLI in-process, capturing stdout and stderr; with `services`, on that server's. */
export async function cli(argv: string[], env: Record<string, string>, stdin = '', services?: Services) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => {
    stdout += c;
  });
  err.on('data', (c) => {
    stderr += c;
  });
  const input = new PassThrough();
  input.end(stdin);
  const code = await runCli(
    argv,
    { stdin: input, stdout: out, stderr: err },
    env,
    services ? { services } : undefined,
  );
  return { code, stdout, stderr };
}

/**
 * cliEnv with a database ready for commands: embedded runs create theirs with `tessera migrate`
 * (the only command that creates one); a Postgres test database is migrated already.
 */
export async function readyCliEnv(
  t: ExecutionContext,
  database: TestDatabase | undefined,
  extra: Record<string, string> = {},
) {
  const env = cliEnv(t, database, extra);
  if (!database?.url) {
    const r = await cli(['migrate'], env);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  return env;
}

/**
 * A command run on a running server's own services, as its admin socket runs it
 * (cli/admin_socket.ts): the result of `--json`, or an error with the command's stderr.
 */
export async function cliOn(services: Services, argv: string[], stdin = '') {
  const r = await cli([...argv, '--json'], {}, stdin, services);
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}
