import test from 'ava';
import fc from 'fast-check';
import { OAuthError } from '../../src/errors.js';
import {
  decodeFormComponent,
  isCleanPath,
  isCleanText,
  MALFORMED_VALUE,
  parseFormStrict,
  parseJsonStrict,
} from '../../src/http/strict_input.js';

// Property tests of the parameter decoders; FUZZ_RUNS raises the run count for long runs.
const runs = Number(process.env.FUZZ_RUNS) || 300;
const clean = fc.string({ unit: 'grapheme', maxLength: 30 }).filter(isCleanText);
const cleanName = clean.filter((s) => s !== '');
const paramMap = fc.dictionary(cleanName, clean, { maxKeys: 6 });

const throwsOnlyInvalidRequest = (fn: () => unknown) => {
  try {
    fn();
    return true;
  } catch (err) {
    return err instanceof OAuthError && err.error === 'invalid_request' && err.status === 400;
  }
};

test('form: what a client encodes is what the server reads', (t) => {
  fc.assert(
    fc.property(paramMap, (params) => {
      const encoded = new URLSearchParams(Object.entries(params)).toString();
      const parsed = parseFormStrict(encoded);
      t.deepEqual(Object.fromEntries(parsed), params);
    }),
    { numRuns: runs },
  );
});

test('form: any input is either clean parameters or invalid_request, never another error', (t) => {
  const hostile = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc
      .array(
        fc.constantFrom(
          '%',
          '%0',
          '%00',
          '%zz',
          '%ff',
          '%c3',
          '%c3%28',
          '%ed%a0%80',
          '=',
          '&',
          '+',
          'a',
          'token',
        ),
        {
          maxLength: 20,
        },
      )
      .map((parts) => parts.join('')),
  );
  fc.assert(
    fc.property(hostile, (raw) => {
      let parsed: Map<string, string> | undefined;
      const ok = throwsOnlyInvalidRequest(() => {
        parsed = parseFormStrict(raw);
      });
      t.true(ok, raw);
      for (const [name, value] of parsed ?? []) t.true(isCleanText(name) && isCleanText(value));
    }),
    { numRuns: runs },
  );
});

test('form: NUL, invalid UTF-8 and bad escapes are refused, or made MALFORMED_VALUE where lenient', (t) => {
  for (const bad of ['de%00mo', '%ff', '%c3%28', '%zz', '%', '%e0%a4%a', '%ed%a0%80', '%ef%bf%bd']) {
    t.throws(() => parseFormStrict(`username=${bad}`), { instanceOf: OAuthError });
    t.is(parseFormStrict(`token=${bad}`, { lenient: ['token'] }).get('token'), MALFORMED_VALUE);
    t.throws(() => parseFormStrict(`${bad}=x`, { lenient: ['token'] }), { instanceOf: OAuthError });
  }
  t.throws(() => parseFormStrict('a=1&a=2'), { instanceOf: OAuthError });
  t.throws(() => parseFormStrict('a=&a=2'), { instanceOf: OAuthError });
  t.is(decodeFormComponent('a+b%2Bc'), 'a b+c');
});

test('JSON: string objects round-trip; repeated keys, also spelled with escapes, are invalid_request', (t) => {
  fc.assert(
    fc.property(paramMap, (params) => {
      t.deepEqual(Object.fromEntries(parseJsonStrict(JSON.stringify(params))), params);
      const [first] = Object.keys(params);
      if (first !== undefined) {
        const repeated = `${JSON.stringify(params).slice(0, -1)}${Object.keys(params).length ? ',' : ''}${JSON.stringify(first)}:"x"}`;
        t.throws(() => parseJsonStrict(repeated), { instanceOf: OAuthError });
      }
    }),
    { numRuns: runs },
  );
  t.throws(() => parseJsonStrict('{"client_id":"a","client\\u005fid":"b"}'), { instanceOf: OAuthError });
  t.throws(() => parseJsonStrict('{"username":"de\\u0000mo"}'), { instanceOf: OAuthError });
  t.throws(() => parseJsonStrict('{"username":"\\ud800"}'), { instanceOf: OAuthError });
  t.is(parseJsonStrict('{"token":"\\u0000"}', { lenient: ['token'] }).get('token'), MALFORMED_VALUE);
});

test('JSON: any input is either clean parameters or invalid_request', (t) => {
  const jsonish = fc.oneof(
    fc.json(),
    fc.string({ unit: 'binary' }),
    fc.jsonValue().map((v) => JSON.stringify({ a: v, b: 'x' })),
  );
  fc.assert(
    fc.property(jsonish, (raw) => {
      t.true(
        throwsOnlyInvalidRequest(() => parseJsonStrict(raw)),
        raw,
      );
    }),
    { numRuns: runs },
  );
});

test('path: the one-scan check agrees with decoding every segment', (t) => {
  const segmentwise = (path: string) =>
    path.split('/').every((segment) => decodeFormComponent(segment.replace(/\+/g, '%2B')) !== undefined);
  const pathChars = fc.constantFrom(
    '/',
    'a',
    'Z',
    '0',
    '-',
    '.',
    '+',
    '%',
    '2',
    'F',
    'c',
    '3',
    '\u0000',
    '\t',
    '\u007f',
    'é',
    '\uD800',
    '\uFFFD',
    ' ',
  );
  fc.assert(
    fc.property(fc.array(pathChars, { maxLength: 24 }), (chars) => {
      const path = `/${chars.join('')}`;
      return isCleanPath(path) === segmentwise(path);
    }),
    { numRuns: runs * 10 },
  );
  for (const path of ['/token', '/admin/clients/c_abc-DEF_1', '/.well-known/jwks.json'])
    t.true(isCleanPath(path));
  for (const path of ['/a%zz', '/a%00', '/a%C3', '/a\u0000b']) t.false(isCleanPath(path), path);
});
