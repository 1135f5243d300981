import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { useServer } from '../helpers/app.js';
import { createClient, createUser } from '../helpers/oauth.js';
import { PROCESS_START_MS } from '../helpers/server_process.js';

// Debian's python3 ships oauthlib and requests; a machine without them skips this file by name.
const PYTHON = '/usr/bin/python3';
const hasOauthlib = spawnSync(PYTHON, ['-c', 'import oauthlib, requests'], { stdio: 'ignore' }).status === 0;

(hasOauthlib ? test : test.skip)(
  'Python oauthlib: password, bearer use, refresh rotation, errors, client_credentials [needs python3 with oauthlib]',
  async (t) => {
    const s = await useServer(t);
    const registered = await createClient(s, {
      name: 'oauthlib',
      grantTypes: ['password', 'refresh_token', 'client_credentials'],
      scopes: ['read', 'write'],
    });
    const user = await createUser(s);
    const script = fileURLToPath(new URL('./oauthlib_client.py', import.meta.url));
    // Asynchronously: the server under test runs in this process and must keep answering.
    const run = await promisify(execFile)(
      PYTHON,
      [script, s.url, registered.client_id, registered.client_secret as string, user.username, user.password],
      // The test server is plain HTTP on loopback; oauthlib insists on HTTPS unless told otherwise.
      {
        encoding: 'utf8',
        timeout: PROCESS_START_MS,
        env: { ...process.env, OAUTHLIB_INSECURE_TRANSPORT: '1' },
      },
    );
    t.deepEqual(JSON.parse(run.stdout), {
      password_scope: ['read'],
      has_refresh: true,
      me_status: 200,
      rotated: true,
      wrong_password: 'invalid_grant',
      cc_scope: ['write'],
      cc_refresh: false,
    });
  },
);
