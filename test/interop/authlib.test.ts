import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { useServer } from '../helpers/app.js';
import { createCodeClient, REDIRECT_URI } from '../helpers/authorize.js';
import { createUser } from '../helpers/oauth.js';
import { PROCESS_START_MS } from '../helpers/server_process.js';

// Debian's python3-authlib and python3-requests (.ci/run installs them); a machine without them
// skips this file by name.
const PYTHON = '/usr/bin/python3';
const hasAuthlib = spawnSync(PYTHON, ['-c', 'import authlib, requests'], { stdio: 'ignore' }).status === 0;

(hasAuthlib ? test : test.skip)(
  'Python authlib: authorization code with S256 PKCE through the login page, then refresh [needs python3 with authlib]',
  async (t) => {
    const s = await useServer(t, { issuerFromUrl: true });
    const client = await createCodeClient(s);
    const user = await createUser(s);
    const script = fileURLToPath(new URL('./authlib_client.py', import.meta.url));
    const run = await promisify(execFile)(
      PYTHON,
      [
        script,
        s.url,
        client.client_id,
        client.client_secret as string,
        REDIRECT_URI,
        user.username,
        user.password,
      ],
      // The test server is plain HTTP on loopback; authlib insists on HTTPS unless told otherwise.
      {
        encoding: 'utf8',
        timeout: PROCESS_START_MS,
        env: { ...process.env, AUTHLIB_INSECURE_TRANSPORT: '1' },
      },
    );
    t.deepEqual(JSON.parse(run.stdout), {
      methods: ['S256'],
      login_page: 200,
      redirect_status: 303,
      iss_in_redirect: true,
      scope: 'read write',
      me_username: user.username,
      rotated: true,
    });
  },
);
