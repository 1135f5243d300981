import test from 'ava';
import {
  browserRegistration,
  checkOrigin,
  checkRedirectUri,
  RegistrationError,
  redirectUriMatches,
} from '../../src/accounts/browser_registration.js';

test('redirect URIs: https, loopback http and reverse-domain private-use schemes only', (t) => {
  for (const ok of [
    'https://app.example.com/callback',
    'http://localhost:5173/callback',
    'http://127.0.0.1:8000/cb',
    'http://[::1]:8000/cb',
    'com.example.app:/oauth2redirect',
  ])
    t.is(checkRedirectUri(ok), ok);
  for (const bad of [
    'http://app.example.com/callback',
    'https://app.example.com/callback#frag',
    'javascript:alert(1)',
    'data:text/html,hi',
    'myapp:/cb',
    '/relative',
  ])
    t.throws(() => checkRedirectUri(bad), { instanceOf: RegistrationError }, bad);
});

test('origins must be exactly scheme://host[:port], https or loopback http', (t) => {
  t.is(checkOrigin('https://app.example.com'), 'https://app.example.com');
  t.is(checkOrigin('http://localhost:5173'), 'http://localhost:5173');
  for (const bad of [
    'https://app.example.com/',
    'https://app.example.com:443',
    'http://app.example.com',
    'null',
  ])
    t.throws(() => checkOrigin(bad), { instanceOf: RegistrationError }, bad);
});

test('the code grant needs a redirect URI; cookie mode needs an origin and the refresh grant', (t) => {
  t.throws(() => browserRegistration({ grantTypes: ['authorization_code'] }), { message: /redirect-uri/ });
  t.throws(() => browserRegistration({ grantTypes: ['password'], redirectUris: ['https://a.example/cb'] }), {
    message: /authorization_code/,
  });
  t.throws(
    () =>
      browserRegistration({
        grantTypes: ['authorization_code', 'refresh_token'],
        redirectUris: ['https://a.example/cb'],
        refreshCookie: true,
      }),
    { message: /--origin/ },
  );
  t.throws(
    () =>
      browserRegistration({
        grantTypes: ['authorization_code'],
        redirectUris: ['https://a.example/cb'],
        allowedOrigins: ['https://a.example'],
        refreshCookie: true,
      }),
    { message: /refresh_token/ },
  );
  t.deepEqual(
    browserRegistration({
      grantTypes: ['authorization_code', 'refresh_token'],
      redirectUris: ['https://a.example/cb', 'https://a.example/cb'],
      allowedOrigins: ['https://a.example'],
      refreshCookie: true,
    }),
    { redirectUris: ['https://a.example/cb'], allowedOrigins: ['https://a.example'], refreshCookie: true },
  );
});

test('N13: a loopback IP redirect URI matches with any port (RFC 8252 §7.3); everything else exactly', (t) => {
  const matches: [string, string][] = [
    ['http://127.0.0.1:8080/cb', 'http://127.0.0.1:51234/cb'],
    ['http://127.0.0.1/cb', 'http://127.0.0.1:51234/cb'],
    ['http://127.0.0.1:8080/cb', 'http://127.0.0.1/cb'],
    ['http://[::1]:8080/cb?x=1', 'http://[::1]:65535/cb?x=1'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:9000'],
    ['https://app.example/cb', 'https://app.example/cb'],
  ];
  for (const [registered, presented] of matches)
    t.true(redirectUriMatches(registered, presented), `${registered} ~ ${presented}`);
  const refused: [string, string][] = [
    ['http://localhost:8080/cb', 'http://localhost:9000/cb'], // not an IP literal
    ['http://127.0.0.1:8080/cb', 'http://127.0.0.1:9000/cb2'], // path
    ['http://127.0.0.1:8080/cb', 'http://127.0.0.1:9000/cb?x=1'], // query
    ['http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb'], // another host
    ['http://127.0.0.1:8080/cb', 'https://127.0.0.1:8080/cb'], // scheme
    ['http://127.0.0.1:8080/cb', 'http://127.0.0.1:0/cb'], // no such port
    ['http://127.0.0.1:8080/cb', 'http://127.0.0.1:65536/cb'],
    ['http://127.0.0.1:8080/cb', 'http://127.0.0.1:90000/cb'],
    ['http://127.0.0.1:8080/cb', 'http://127.0.0.1:80x/cb'],
    ['http://127.0.0.1:8080/cb', 'http://user@127.0.0.1:8080/cb'],
    ['http://127.0.0.1:8080/cb', 'http://127.0.0.1:8080/cb#f'],
    ['http://127.0.0.1.evil.example:8080/cb', 'http://127.0.0.1.evil.example:9000/cb'],
    ['https://app.example:8443/cb', 'https://app.example:9443/cb'],
  ];
  for (const [registered, presented] of refused)
    t.false(redirectUriMatches(registered, presented), `${registered} !~ ${presented}`);
});
