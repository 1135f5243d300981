import { Writable } from 'node:stream';
import test from 'ava';
import { createLogger } from '../../src/observability.js';
import { useServer } from '../helpers/app.js';
import { basic, createClient, createUser, getJson, passwordLogin, postForm } from '../helpers/oauth.js';

test('no password, secret or token reaches any log line, even at trace level', async (t) => {
  let logs = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs += chunk;
      done();
    },
  });
  const s = await useServer(t, { log: createLogger('trace', sink) });
  const client = await createClient(s, {
    name: 'app',
    grantTypes: ['password', 'refresh_token', 'client_credentials'],
  });
  const user = await createUser(s, 'logged', 'Sup3r-Secret-Passw0rd');
  const secret = client.client_secret as string;

  // Malformed JSON that carries the password: Node's JSON.parse error would quote it.
  await postForm(`${s.url}/token`, `{"grant_type":"password","password":${user.password}}`, {
    'content-type': 'application/json',
    authorization: basic(client.client_id, secret),
  });
  await passwordLogin(s, client, user.username, 'Wr0ng-But-Secret-Too');
  const ok = await passwordLogin(s, client, user.username, user.password);
  const access = ok.body.access_token as string;
  const refreshToken = ok.body.refresh_token as string;
  await postForm(
    `${s.url}/token`,
    { grant_type: 'refresh_token', refresh_token: refreshToken },
    {
      authorization: basic(client.client_id, secret),
    },
  );
  // A replay (reuse detection logs a warning) and a bad client secret.
  await postForm(
    `${s.url}/token`,
    { grant_type: 'refresh_token', refresh_token: refreshToken },
    {
      authorization: basic(client.client_id, secret),
    },
  );
  await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials' },
    { authorization: basic(client.client_id, `${secret}x`) },
  );
  await getJson(`${s.url}/me`, { authorization: `Bearer ${access}` });
  await getJson(`${s.url}/me`, { authorization: `Bearer ${access}tampered` });

  t.true(logs.length > 0, 'something was logged');
  t.regex(logs, /refresh token reuse detected/);
  for (const [name, value] of [
    ['password', user.password],
    ['wrong password', 'Wr0ng-But-Secret-Too'],
    ['client secret', secret],
    ['access token', access],
    ['access token signature', access.split('.')[2] as string],
    ['refresh token', refreshToken],
  ] as const) {
    // Any 8-character piece counts: error messages quote truncated fragments of their input.
    const piece = Array.from({ length: value.length - 7 }, (_, i) => value.slice(i, i + 8)).find((p) =>
      logs.includes(p),
    );
    t.is(piece, undefined, `${name} leaked into the logs`);
  }
});
