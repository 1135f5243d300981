import test from 'ava';
import { adminCaller, auditOf } from '../helpers/admin.js';
import { useServer } from '../helpers/app.js';
import { assertOAuthError, clientCredentials, createClient } from '../helpers/oauth.js';

// docs/admin.md, "no call grants more than its caller holds": `admin:clients` manages ordinary
// clients, never an admin client, which can mint every admin scope.

test('admin:clients cannot create an admin client; the refusal is audited; admin can', async (t) => {
  const s = await useServer(t);
  const narrow = await adminCaller(s, 'admin:clients');
  const body = { name: 'escalate', grant_types: ['client_credentials'], admin: true };
  const refused = await narrow.call('POST', '/admin/clients', body);
  assertOAuthError(t, refused, 403, 'insufficient_scope');
  t.regex(refused.headers.get('www-authenticate') ?? '', /scope="admin"/);
  t.false('client_secret' in refused.body);
  t.false((await s.services.clientAccounts.listAll()).some((c) => c.name === 'escalate'));
  // The file's tests share one database and run at once: pick this caller's refusal.
  const [audit] = (await auditOf(s, 'admin.refused')).filter((e) => e.actor === narrow.client.client_id);
  t.truthy(audit);
  t.is(audit?.detail.action, 'client.create');
  // An ordinary client is still the narrow scope's to create.
  const plain = await narrow.call('POST', '/admin/clients', {
    name: 'svc',
    grant_types: ['client_credentials'],
  });
  t.is(plain.status, 201);
  const full = await adminCaller(s, 'admin');
  const made = await full.call('POST', '/admin/clients', body);
  t.is(made.status, 201);
  t.true(made.body.admin);
});

test('admin:clients cannot rotate the secret of, change or disable an admin client', async (t) => {
  const s = await useServer(t);
  const full = await adminCaller(s, 'admin');
  const narrow = await adminCaller(s, 'admin:clients');
  const target = full.client.client_id;
  const rotate = await narrow.call('POST', `/admin/clients/${target}/rotate-secret`);
  assertOAuthError(t, rotate, 403, 'insufficient_scope');
  t.false('client_secret' in rotate.body);
  // The full admin's secret still works: nothing was rotated.
  t.is((await clientCredentials(s, full.client, { scope: 'admin' })).status, 200);
  assertOAuthError(
    t,
    await narrow.call('PATCH', `/admin/clients/${target}`, { name: 'mine' }),
    403,
    'insufficient_scope',
  );
  assertOAuthError(
    t,
    await narrow.call('POST', `/admin/clients/${target}/disable`),
    403,
    'insufficient_scope',
  );
  const got = await full.call('GET', `/admin/clients/${target}`);
  t.is(got.body.name, 'ops admin');
  t.false(got.body.disabled);
  const actions = (await auditOf(s, 'admin.refused'))
    .filter((e) => e.actor === narrow.client.client_id)
    .map((e) => e.detail.action)
    .sort();
  t.deepEqual(actions, ['client.disable', 'client.rotate_secret', 'client.update']);
  // Ordinary clients stay the narrow scope's to manage.
  const svc = await createClient(s, { name: 'svc', grantTypes: ['client_credentials'] });
  t.is((await narrow.call('POST', `/admin/clients/${svc.client_id}/rotate-secret`)).status, 200);
  // The full admin scope may change an admin client.
  t.is(
    (await full.call('PATCH', `/admin/clients/${narrow.client.client_id}`, { name: 'renamed' })).status,
    200,
  );
});

test('an admin client needs client_credentials, at creation and on every later grant change', async (t) => {
  const s = await useServer(t);
  const full = await adminCaller(s, 'admin');
  const refused = await full.call('POST', '/admin/clients', {
    name: 'x',
    grant_types: ['password'],
    admin: true,
  });
  t.is(refused.status, 422);
  const patch = await full.call('PATCH', `/admin/clients/${full.client.client_id}`, {
    grant_types: ['password'],
  });
  t.is(patch.status, 422);
});
