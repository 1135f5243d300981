import test from 'ava';
import type { OAuthError } from '../../src/errors.js';
import { fromForm, fromJson } from '../../src/http/params.js';

test('form bodies: one string per name, empty values dropped (RFC 6749 §3.1)', (t) => {
  const p = fromForm('grant_type=password&username=al%20ice&scope=&password=a+b');
  t.deepEqual(
    [...p],
    [
      ['grant_type', 'password'],
      ['username', 'al ice'],
      ['password', 'a b'],
    ],
  );
});

test('form bodies: a repeated parameter is invalid_request, even when one copy is empty', (t) => {
  t.is(t.throws<OAuthError>(() => fromForm('scope=a&scope=b'))?.error, 'invalid_request');
  t.is(t.throws<OAuthError>(() => fromForm('scope=&scope=b'))?.error, 'invalid_request');
});

test('JSON bodies: an object of strings only', (t) => {
  t.deepEqual(
    [...fromJson({ grant_type: 'client_credentials', scope: '' })],
    [['grant_type', 'client_credentials']],
  );
  t.is(t.throws<OAuthError>(() => fromJson({ scope: ['a'] }))?.error, 'invalid_request');
  t.is(t.throws<OAuthError>(() => fromJson({ force: true }))?.error, 'invalid_request');
  t.is(t.throws<OAuthError>(() => fromJson([]))?.error, 'invalid_request');
  t.is(t.throws<OAuthError>(() => fromJson(null))?.error, 'invalid_request');
  t.is(t.throws<OAuthError>(() => fromJson('grant_type=password'))?.error, 'invalid_request');
});
