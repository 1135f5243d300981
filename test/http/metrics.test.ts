import test from 'ava';
import { adminCaller } from '../helpers/admin.js';
import { testClock, useServer } from '../helpers/app.js';
import {
  basic,
  clientCredentials,
  createClient,
  createUser,
  passwordLogin,
  postForm,
} from '../helpers/oauth.js';
import { refresh, revoke } from '../helpers/sessions.js';

const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();

/** The value of one sample, or undefined when absent. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const escaped = `${name}${labels ? `{${labels}}` : ''}`.replace(/[{}()[\]|.+*?^$\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

test('/metrics names what operators alert on, with bounded labels and no username or reason', async (t) => {
  const clock = testClock();
  const s = await useServer(t, { now: clock.now, env: { RATE_LIMIT_LOGIN_FAILURES: '2' } });
  const app = await createClient(s, {
    name: 'app',
    grantTypes: ['password', 'refresh_token', 'client_credentials'],
  });
  const user = await createUser(s, 'metered', 'Metered-Passw0rd!');
  const ok = await passwordLogin(s, app, user.username, user.password);
  const spent = ok.body.refresh_token as string;
  const next = await refresh(s, app, spent);
  await refresh(s, app, spent); // reuse
  await revoke(s, app, next.body.access_token as string);
  await clientCredentials(s, app);
  await passwordLogin(s, app, user.username, 'wrong-1');
  await passwordLogin(s, app, 'no-such-user-anywhere', 'wrong-2');
  await passwordLogin(s, app, user.username, 'wrong-3');
  await passwordLogin(s, app, user.username, 'wrong-4'); // locked: 429
  await postForm(
    `${s.url}/token`,
    { grant_type: 'client_credentials' },
    { authorization: basic(app.client_id, 'x') },
  );
  const admin = await adminCaller(s, 'admin:keys');
  await admin.call('POST', '/admin/keys/rotate', { force: true });
  clock.advance(120);

  const text = await scrape(s.url);
  t.true(
    (sample(text, 'tessera_http_requests_total', `route="/token",method="POST",status="200"`) ?? 0) >= 3,
  );
  t.regex(
    text,
    /^tessera_http_request_duration_seconds_bucket\{le="0\.001",route="\/token",method="POST",status="200"\} \d+$/m,
  );
  t.is(sample(text, 'tessera_tokens_issued_total', 'grant_type="password"'), 1);
  t.is(sample(text, 'tessera_tokens_issued_total', 'grant_type="refresh_token"'), 1);
  t.true((sample(text, 'tessera_tokens_issued_total', 'grant_type="client_credentials"') ?? 0) >= 2);
  t.is(sample(text, 'tessera_refresh_reuse_detected_total'), 1);
  t.is(sample(text, 'tessera_refresh_leeway_uses_total'), 0);
  t.is(sample(text, 'tessera_revocations_total', 'token_type="access_token"'), 1);
  t.is(sample(text, 'tessera_sessions_ended_total', 'reason="refresh_reuse"'), 1);
  t.is(sample(text, 'tessera_logins_total', 'outcome="succeeded"'), 1);
  t.is(sample(text, 'tessera_logins_total', 'outcome="failed"'), 3);
  t.is(sample(text, 'tessera_login_lockouts_total'), 1);
  t.is(sample(text, 'tessera_rate_limit_rejections_total', 'limiter="login_user_ip"'), 1);
  t.is(sample(text, 'tessera_client_auth_failures_total'), 1);
  t.is(sample(text, 'tessera_key_rotations_total', 'forced="true"'), 1);
  t.is(sample(text, 'tessera_database_up'), 1);
  if (process.env.REDIS_URL) t.is(sample(text, 'tessera_redis_up'), 1);
  else t.is(sample(text, 'tessera_redis_up'), undefined, 'no Redis gauge without Redis');
  t.regex(text, /^tessera_build_info\{version="\d+\.\d+\.\d+[^"]*",node_version="v\d+[^"]*"\} 1$/m);
  const age = sample(text, 'tessera_active_signing_key_age_seconds') ?? -1;
  t.true(age >= 120 && age < 200, `key age ${age}`);
  t.regex(text, /^# TYPE tessera_http_request_duration_seconds histogram$/m);
  t.regex(text, /^process_cpu_user_seconds_total /m);

  // Nothing that names a user, a failure reason, a secret or a token, in any label.
  t.false(text.includes(user.username));
  t.false(text.includes('no-such-user'));
  t.false(/unknown_user|bad_password|reason="disabled"/.test(text));
  t.false(text.includes(app.client_secret as string));
  t.false(text.includes(spent));
  t.false(/tessera_events_total/.test(text), 'the old catch-all counter is gone');
  // Route patterns, never paths.
  const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]));
  for (const route of routes) t.regex(route ?? '', /^(\/[\w.:/-]*|unmatched)$/);
});

test('the database gauge drops to 0 when the database does not answer', async (t) => {
  const s = await useServer(t);
  const check = s.services.readiness.find((c) => c.name === 'database');
  if (!check) return t.fail('no database check');
  const original = check.run;
  check.run = async () => {
    throw new Error('down');
  };
  t.is(sample(await scrape(s.url), 'tessera_database_up'), 0);
  check.run = original;
  t.is(sample(await scrape(s.url), 'tessera_database_up'), 1);
});
