import test from 'ava';
import {
  browserRegistration,
  checkOrigin,
  checkRedirectUri,
  RegistrationError,
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
