import test from 'ava';
import type { OAuthError } from '../../src/errors.js';
import {
  ADMIN_SCOPE,
  audienceClaim,
  audienceList,
  parseScope,
  resolveAudience,
  resolveScope,
  userScopes,
} from '../../src/grants/scope.js';
import type { ClientRecord } from '../../src/stores/types.js';
import { clientRecord } from '../helpers/records.js';

const client = (over: Partial<ClientRecord> = {}) =>
  clientRecord('c1', { scopes: ['read', 'write'], audiences: ['https://api.example'], ...over });

test('parseScope: RFC 6749 §3.3 scope-tokens, duplicates collapsed, extra spaces ignored', (t) => {
  t.deepEqual(parseScope('read  write read'), ['read', 'write']);
  t.is(t.throws<OAuthError>(() => parseScope('   '))?.error, 'invalid_scope');
  t.is(t.throws<OAuthError>(() => parseScope('read "quoted"'))?.error, 'invalid_scope');
  t.is(t.throws<OAuthError>(() => parseScope('back\\slash'))?.error, 'invalid_scope');
  t.is(t.throws<OAuthError>(() => parseScope('tab\there'))?.error, 'invalid_scope');
});

test('resolveScope: omitted → fallback; within allowed → as asked; beyond → invalid_scope', (t) => {
  t.is(resolveScope(undefined, ['read', 'write'], ['read']), 'read');
  t.is(resolveScope('write', ['read', 'write'], ['read']), 'write');
  t.is(t.throws<OAuthError>(() => resolveScope('read admin', ['read'], ['read']))?.error, 'invalid_scope');
});

test('userScopes never carry the admin scope', (t) => {
  t.deepEqual(userScopes(client({ scopes: ['read', ADMIN_SCOPE] })), ['read']);
});

test('resolveAudience: RFC 8707 absolute URI without fragment, one of the client audiences', (t) => {
  const c = client({ audiences: ['https://a.example', 'https://b.example'] });
  t.deepEqual(resolveAudience(undefined, c), ['https://a.example', 'https://b.example']);
  t.is(resolveAudience(undefined, client()), 'https://api.example');
  t.is(resolveAudience('https://b.example', c), 'https://b.example');
  t.is(t.throws<OAuthError>(() => resolveAudience('relative/path', c))?.error, 'invalid_target');
  t.is(t.throws<OAuthError>(() => resolveAudience('https://a.example#frag', c))?.error, 'invalid_target');
  t.is(t.throws<OAuthError>(() => resolveAudience('https://other.example', c))?.error, 'invalid_target');
});

test('audienceClaim and audienceList convert between the aud claim and a stored list', (t) => {
  t.is(audienceClaim(['x']), 'x');
  t.deepEqual(audienceClaim(['x', 'y']), ['x', 'y']);
  t.deepEqual(audienceList('x'), ['x']);
  t.deepEqual(audienceList(['x', 'y']), ['x', 'y']);
});
