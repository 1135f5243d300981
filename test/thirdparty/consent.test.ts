import test from 'ava';
import { adminCaller, auditOf, bearerCall } from '../helpers/admin.js';
import { useServer } from '../helpers/app.js';
import {
  authorizationRequest,
  CookieJar,
  getAuthorize,
  hiddenFields,
  postAuthorize,
} from '../helpers/authorize.js';
import { createUser } from '../helpers/oauth.js';

const ENV = {
  CLIENT_REGISTRATION: 'open',
  THIRD_PARTY_SCOPES: 'read write',
  RATE_LIMIT_REGISTRATIONS_PER_HOUR: '1000',
};

async function setup(t: import('ava').ExecutionContext) {
  const s = await useServer(t, { env: ENV });
  const reg = await bearerCall(s, undefined, 'POST', '/register', {
    client_name: 'Agent <b>',
    token_endpoint_auth_method: 'none',
    redirect_uris: ['https://app.example.test/callback'],
  });
  const clientId = String(reg.body.client_id);
  const user = await createUser(s);
  const jar = new CookieJar();
  const request = authorizationRequest(clientId);
  const login = await getAuthorize(s, request.params, jar);
  const consent = await postAuthorize(
    s,
    { ...hiddenFields(login.html), username: user.username, password: user.password },
    jar,
  );
  return { s, clientId, user, jar, request, consent };
}

const decide = (s: { url: string }, form: Record<string, string>, jar: CookieJar) =>
  fetch(`${s.url}/authorize/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
    body: new URLSearchParams(form).toString(),
  });

test('the consent page: escaped name, CSRF token, strict CSP, no script, no-store', async (t) => {
  const { consent } = await setup(t);
  t.is(consent.status, 200);
  t.regex(consent.html, /Agent &lt;b&gt;/);
  t.false(/<script/i.test(consent.html));
  t.truthy(hiddenFields(consent.html).csrf_token);
  const csp = consent.headers.get('content-security-policy') ?? '';
  t.regex(csp, /frame-ancestors 'none'/);
  t.regex(csp, /default-src 'none'/);
  t.is(consent.headers.get('cache-control'), 'no-store');
});

test('a forged consent (wrong or missing CSRF token) issues no code', async (t) => {
  const { s, jar, consent } = await setup(t);
  for (const csrf of ['forged', undefined]) {
    const fields = { ...hiddenFields(consent.html), decision: 'allow' } as Record<string, string>;
    if (csrf === undefined) delete fields.csrf_token;
    else fields.csrf_token = csrf;
    const res = await decide(s, fields, jar);
    t.is(res.status, 403);
    t.is(res.headers.get('location'), null);
  }
  // Without the login session cookie it is the login page, never a code.
  const res = await decide(s, { ...hiddenFields(consent.html), decision: 'allow' }, new CookieJar());
  t.is(res.headers.get('location'), null);
});

test('Deny redirects with access_denied, state and iss; audited', async (t) => {
  const { s, clientId, jar, consent, request } = await setup(t);
  const res = await decide(s, { ...hiddenFields(consent.html), decision: 'deny' }, jar);
  t.is(res.status, 303);
  const back = new URL(res.headers.get('location') as string);
  t.is(back.searchParams.get('error'), 'access_denied');
  t.is(back.searchParams.get('state'), request.state);
  t.is(back.searchParams.get('iss'), 'http://tessera.test');
  t.is((await auditOf(s, 'consent.denied', { clientId })).length, 1);
});

test('Allow issues a code and is remembered; prompt=consent asks again; prompt=none without consent is consent_required; revoking forgets it', async (t) => {
  const { s, clientId, user, jar, consent } = await setup(t);
  const none = await getAuthorize(s, authorizationRequest(clientId, { prompt: 'none' }).params, jar);
  t.is(new URL(none.location as string).searchParams.get('error'), 'consent_required');
  const res = await decide(s, { ...hiddenFields(consent.html), decision: 'allow' }, jar);
  t.is(res.status, 303);
  t.truthy(new URL(res.headers.get('location') as string).searchParams.get('code'));
  t.is((await auditOf(s, 'consent.granted', { clientId })).length, 1);
  const again = await getAuthorize(s, authorizationRequest(clientId).params, jar);
  t.is(again.status, 302);
  t.truthy(new URL(again.location as string).searchParams.get('code'));
  const silent = await getAuthorize(s, authorizationRequest(clientId, { prompt: 'none' }).params, jar);
  t.truthy(new URL(silent.location as string).searchParams.get('code'));
  const asked = await getAuthorize(s, authorizationRequest(clientId, { prompt: 'consent' }).params, jar);
  t.is(asked.status, 200);
  t.regex(asked.html, /Allow access\?/);
  // Another scope is another consent.
  const wider = await getAuthorize(s, authorizationRequest(clientId, { scope: 'read write' }).params, jar);
  t.is(wider.status, 200);

  const admin = await adminCaller(s, 'admin:users');
  const list = await admin.call('GET', `/admin/users/${user.id}/consents`);
  t.is(list.status, 200, list.text);
  t.is((list.body.consents as unknown[]).length, 1);
  const revoked = await admin.call(
    'DELETE',
    `/admin/users/${user.id}/consents/${encodeURIComponent(clientId)}`,
  );
  t.is(revoked.status, 200, revoked.text);
  t.is(revoked.body.consents_revoked, 1);
  t.is((await auditOf(s, 'consent.revoked', { clientId })).length, 1);
  const after = await getAuthorize(s, authorizationRequest(clientId).params, jar);
  t.is(after.status, 200);
  t.is((await admin.call('GET', '/admin/users/not-a-uuid/consents')).status, 404);
});
