import test from 'ava';
import { isS256Challenge, verifierMatches } from '../../src/authorize/pkce.js';

// RFC 7636 Appendix B.
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

test('the RFC 7636 appendix B verifier matches its S256 challenge', (t) => {
  t.true(isS256Challenge(CHALLENGE));
  t.true(verifierMatches(VERIFIER, CHALLENGE));
});

test('a different verifier, a plain challenge or a malformed verifier never match', (t) => {
  t.false(verifierMatches(`${VERIFIER.slice(0, -1)}A`, CHALLENGE));
  // `plain`: the verifier itself as the challenge.
  t.false(verifierMatches(VERIFIER, VERIFIER));
  t.false(verifierMatches('short', CHALLENGE), 'RFC 7636 §4.1: at least 43 characters');
  t.false(verifierMatches(`${VERIFIER}!`, CHALLENGE), 'only unreserved characters');
  t.false(verifierMatches('a'.repeat(129), CHALLENGE), 'at most 128 characters');
  t.false(isS256Challenge(`${CHALLENGE}=`));
});
