import test from 'ava';
import { loadConfig } from '../../src/config.js';

test('LOGIN_SESSION_TTL defaults to 8 h and AUTHORIZATION_CODE_TTL to 60 s', (t) => {
  const c = loadConfig({});
  t.is(c.loginSessionTtl, 8 * 3600);
  t.is(c.authorizationCodeTtl, 60);
  t.is(loadConfig({ LOGIN_SESSION_TTL: '30m', AUTHORIZATION_CODE_TTL: '2m' }).authorizationCodeTtl, 120);
});

test('an authorization code may not outlive 10 minutes (RFC 6749 §4.1.2); bad values name the key', (t) => {
  t.throws(() => loadConfig({ AUTHORIZATION_CODE_TTL: '11m' }), { message: /^AUTHORIZATION_CODE_TTL: / });
  t.throws(() => loadConfig({ AUTHORIZATION_CODE_TTL: 'soon' }), { message: /^AUTHORIZATION_CODE_TTL: / });
  t.throws(() => loadConfig({ LOGIN_SESSION_TTL: '10' }), { message: /^LOGIN_SESSION_TTL: must be at least 60s/ });
});
