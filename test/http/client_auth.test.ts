import test from 'ava';
import { decodeBasic } from '../../src/http/client_auth.js';

const basic = (raw: string) => `Basic ${Buffer.from(raw, 'utf8').toString('base64')}`;

test('Basic: id and secret are form-urlencoded before base64 (RFC 6749 §2.3.1)', (t) => {
  t.deepEqual(decodeBasic(basic('my%3Aclient:s%2Bcr%25t+x')), { id: 'my:client', secret: 's+cr%t x' });
  t.deepEqual(decodeBasic(basic('plain:secret')), { id: 'plain', secret: 'secret' });
});

test('Basic: the first colon splits; the secret may contain more', (t) => {
  t.deepEqual(decodeBasic(basic('id:a:b')), { id: 'id', secret: 'a:b' });
});

test('Basic: the scheme is case-insensitive and surrounding blanks are tolerated', (t) => {
  t.deepEqual(decodeBasic(`basic  ${Buffer.from('a:b').toString('base64')} `), { id: 'a', secret: 'b' });
});

test('Basic: malformed credentials decode to nothing', (t) => {
  t.is(decodeBasic(basic('no-colon')), undefined);
  t.is(decodeBasic(basic('bad%ZZescape:x')), undefined);
  t.is(decodeBasic('Basic'), undefined);
  t.is(decodeBasic('Basic not base64!'), undefined);
  t.is(decodeBasic(`Bearer ${Buffer.from('a:b').toString('base64')}`), undefined);
});
