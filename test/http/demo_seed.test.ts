import test from 'ava';
import { DEMO_API_AUDIENCE, formatDemoCredentials, seedDemo } from '../../src/seed.js';
import { useServer } from '../helpers/app.js';
import { getJson, introspect, passwordLogin } from '../helpers/oauth.js';

// The embedded first start's demo setup must let a new user try every quick-start step, the
// introspection of a user's token by a resource server included (README, quick start).
test('the seeded demo API introspects the demo client tokens, which /me also accepts; seeded once', async (t) => {
  const s = await useServer(t);
  const issuer = s.services.config.issuer;
  const demo = await seedDemo(s.services, issuer);
  if (!demo) return t.fail('an empty database is seeded');
  const client = { client_id: demo.clientId, client_secret: demo.clientSecret };
  const api = { client_id: demo.apiClientId, client_secret: demo.apiClientSecret };

  const login = await passwordLogin(s, client, demo.username, demo.password);
  const token = login.body.access_token as string;
  t.truthy(token, JSON.stringify(login.body));

  const me = await getJson(`${s.url}/me`, { authorization: `Bearer ${token}` });
  t.is(me.status, 200);

  const seen = await introspect(s, api, token);
  t.is(seen.body.active, true, JSON.stringify(seen.body));
  t.deepEqual(seen.body.aud, [issuer, DEMO_API_AUDIENCE]);

  const banner = formatDemoCredentials(demo, issuer);
  for (const secret of [demo.clientSecret, demo.password, demo.apiClientSecret])
    t.true(banner.includes(secret));
  t.true(banner.includes('/introspect'));

  t.is(await seedDemo(s.services, issuer), undefined);
});
