import test from 'ava';
import { secretMatches, sha256 } from '../../src/tokens/secrets.js';

// Stored digests (refresh tokens, client secrets, registration tokens) were written by earlier
// releases with createHash: whichever primitive computes them now must give the same bytes.
test('sha256 is SHA-256 in base64url (FIPS 180-2 test vector), for ASCII and UTF-8 input', (t) => {
  t.is(sha256('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  t.is(sha256(''), '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU');
  t.is(sha256('ünïcødé'), 'VxO-0wPs6OQt1IOK49BPzSRsfOtEaL3zmqQz-v3M_3c');
});

test('secretMatches: the right secret, not a wrong one, a prefix or a digest of another length', (t) => {
  const stored = sha256('correct secret');
  t.true(secretMatches('correct secret', stored));
  t.false(secretMatches('correct secreT', stored));
  t.false(secretMatches('correct', stored));
  t.false(secretMatches('correct secret', stored.slice(0, 20)));
  t.false(secretMatches('', stored));
});
