import { brotliCompressSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';

/**
 * Generators of hostile HTTP requests for the fuzz suite: random and mutated bodies, content
 * types and encodings, credentials and JWT-like strings. Valid values (real client ids, tokens)
 * are mixed in so requests get past the first checks and reach the stores.
 */

export interface Known {
  clientId: string;
  clientSecret: string;
  publicClientId: string;
  username: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  kid: string;
  /** A code-flow client and its redirect URI and a PKCE challenge, so /authorize gets past its first checks. */
  codeClientId: string;
  redirectUri: string;
  codeChallenge: string;
  /** Records the admin routes may change or disable: never the fuzzer's own client or user. */
  victimClientId: string;
  victimUserId: string;
  victimSessionId: string;
}

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
  /** What the case was, for the failure report. */
  label: string;
}

const PARAM_NAMES = [
  'grant_type',
  'client_id',
  'client_secret',
  'username',
  'password',
  'scope',
  'resource',
  'token',
  'token_type_hint',
  'refresh_token',
  'code',
  'redirect_uri',
  'code_verifier',
  'force',
  // /authorize (RFC 6749 §4.1.1, RFC 7636 §4.3) and its login form
  'response_type',
  'state',
  'code_challenge',
  'code_challenge_method',
  'prompt',
  'dpop_jkt',
  'csrf_token',
  // admin list queries (docs/admin.md)
  'type',
  'limit',
  'cursor',
  'since',
  'until',
];

const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** Cursors, dates and limits at and past the edges of what Postgres takes (issue 17 N5). */
const CURSOR_EDGES = [
  b64('a:9223372036854775807'),
  b64('a:9223372036854775808'),
  b64('a:99999999999999999999'),
  b64('a:0'),
  b64('a:-1'),
  b64('2024-01-01T00:00:00.000Z|not-a-uuid'),
  b64('2024-01-01T00:00:00.000Z|00000000-0000-4000-8000-000000000000'),
  b64('0000-01-01T00:00:00.000Z|00000000-0000-4000-8000-000000000000'),
  b64('0000-01-01T00:00:00.000Z|c_x'),
  b64('9999-12-31T23:59:59.999Z|c_x'),
];
const DATE_EDGES = [
  '0000-01-01T00:00:00Z',
  '0001-01-01T00:00:00+01:00',
  '0001-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '9999-12-31T23:59:59-01:00',
  '275760-09-13T00:00:00Z',
  '2024-02-30T25:61:61Z',
];
const LIMIT_EDGES = ['500', '501', '0', '-1', '1e3', '9999999999999999999999'];
const edgeValues = [...CURSOR_EDGES, ...DATE_EDGES, ...LIMIT_EDGES, 'login.failed'];

/** Strings that broke parsers before: NUL, invalid UTF-8 (as escapes), lone surrogates, injections. */
export const hostileString = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'de\u0000mo',
    '\uD800',
    'x\uDC00y',
    '\uFFFD',
    '%00',
    '%ff',
    '%',
    '%zz',
    '%c3%28',
    "' OR 1=1 --",
    '$1',
    '\\',
    '__proto__',
    'constructor',
    '../../etc/passwd',
    '\r\n',
    ' ',
    '',
    'a'.repeat(3000),
    '{"$ne":null}',
  ),
  fc.string({ unit: 'binary', maxLength: 48 }),
  fc.string({ maxLength: 48 }),
);

const base64url = (s: string | Uint8Array) => Buffer.from(s).toString('base64url');

/** JWT-shaped strings: real-looking headers (alg none, HS256, foreign kids, jwk/jku), junk payloads. */
export const jwtLike = (known: Known) =>
  fc
    .tuple(
      fc.record({
        alg: fc.constantFrom('none', 'HS256', 'ES256', 'RS256', 'EdDSA', ''),
        kid: fc.oneof(fc.constant(known.kid), hostileString),
        typ: fc.constantFrom('at+jwt', 'JWT', ''),
        jku: fc.option(fc.constant('http://127.0.0.1:1/jwks'), { nil: undefined }),
      }),
      fc.oneof(
        fc.jsonValue(),
        fc.record({
          iss: fc.constantFrom('http://tessera.test', hostileString),
          sub: hostileString,
          aud: fc.oneof(hostileString, fc.array(hostileString, { maxLength: 3 })),
          exp: fc.oneof(fc.integer(), fc.double(), hostileString),
          iat: fc.oneof(fc.integer(), hostileString),
          jti: hostileString,
          client_id: fc.oneof(fc.constant(known.clientId), hostileString),
          sid: hostileString,
        }),
      ),
      fc.uint8Array({ maxLength: 64 }),
    )
    .map(
      ([h, p, sig]) =>
        `${base64url(JSON.stringify(h))}.${base64url(JSON.stringify(p) ?? '')}.${base64url(sig)}`,
    );

const value = (known: Known) =>
  fc.oneof(
    { weight: 3, arbitrary: hostileString },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        known.clientId,
        known.publicClientId,
        known.username,
        known.password,
        known.accessToken,
        known.refreshToken,
        'password',
        'refresh_token',
        'client_credentials',
        'authorization_code',
        'access_token',
        'read',
        'admin',
        'http://tessera.test',
        'true',
        known.codeClientId,
        known.redirectUri,
        known.codeChallenge,
        'code',
        'S256',
        'none',
        'login',
      ),
    },
    { weight: 1, arbitrary: fc.constantFrom(...edgeValues) },
    { weight: 1, arbitrary: jwtLike(known) },
  );

/** Name/value pairs; names repeat sometimes, as attackers send them. */
const pairs = (known: Known) =>
  fc.array(
    fc.tuple(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...PARAM_NAMES) },
        { weight: 1, arbitrary: hostileString },
      ),
      value(known),
    ),
    { maxLength: 8 },
  );

/** Percent-encodes the UTF-8 bytes (lone surrogates become U+FFFD, as a browser would send). */
const formEncode = (s: string) =>
  [...Buffer.from(s, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).padStart(2, '0')}`,
    )
    .join('');

/** Splices raw bytes into an encoded body: bad escapes, NUL, invalid UTF-8 sequences. */
const mutate = (bytes: Uint8Array) =>
  fc
    .array(
      fc.tuple(
        fc.nat(),
        fc.constantFrom(
          [0x25],
          [0x25, 0x7a],
          [0x00],
          [0xff],
          [0xc3, 0x28],
          [0xed, 0xa0, 0x80],
          [0x26],
          [0x3d],
          [0x22],
        ),
      ),
      {
        maxLength: 3,
      },
    )
    .map((edits) => {
      let out = [...bytes];
      for (const [at, insert] of edits) {
        const i = out.length === 0 ? 0 : at % (out.length + 1);
        out = [...out.slice(0, i), ...insert, ...out.slice(i)];
      }
      return Uint8Array.from(out);
    });

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

const body = (known: Known) =>
  fc.oneof(
    adminDocument(known),
    adminDocument(known).chain(mutate),
    pairs(known).map((p) => utf8(p.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join('&'))),
    pairs(known)
      .map((p) => utf8(p.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join('&')))
      .chain(mutate),
    // JSON, duplicate keys allowed (written by hand, not by JSON.stringify of an object).
    pairs(known).map((p) =>
      utf8(`{${p.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`),
    ),
    fc.jsonValue().map((v) => utf8(JSON.stringify(v) ?? 'null')),
    fc.uint8Array({ maxLength: 256 }),
    fc.constant(new Uint8Array(20_000).fill(0x61)),
  );

/** Field names of the admin API's JSON bodies (openapi.yaml). */
const ADMIN_FIELDS = [
  'name',
  'grant_types',
  'scopes',
  'audiences',
  'redirect_uris',
  'allowed_origins',
  'refresh_cookie',
  'public',
  'introspect',
  'admin',
  'username',
  'password',
  'roles',
  'force',
  'dpop_bound_access_tokens',
  // RFC 7591 §2 client metadata, for /register
  'client_name',
  'client_uri',
  'logo_uri',
  'token_endpoint_auth_method',
  'response_types',
  'scope',
  'application_type',
  'contacts',
  'software_id',
  'client_id',
];

/** Values an admin field could hold, and the wrong types. */
const adminValue = (known: Known): fc.Arbitrary<unknown> =>
  fc.oneof(
    value(known),
    fc.array(
      fc.oneof(
        value(known),
        fc.constantFrom('password', 'client_credentials', 'read', 'https://a.example/cb'),
      ),
      {
        maxLength: 4,
      },
    ),
    fc.boolean(),
    fc.constantFrom(null, 0, -1, 1e308, {}, [[]], { a: { b: 'c' } }),
  );

/** Admin JSON bodies, written by hand so keys may repeat at the top or one level down. */
const adminDocument = (known: Known) =>
  fc
    .array(
      fc.tuple(
        fc.oneof(
          { weight: 5, arbitrary: fc.constantFrom(...ADMIN_FIELDS) },
          { weight: 1, arbitrary: hostileString },
        ),
        adminValue(known),
        fc.boolean(),
      ),
      { maxLength: 6 },
    )
    .map((fields) =>
      utf8(
        `{${fields
          .map(([k, v, nestRepeat]) =>
            nestRepeat && typeof v === 'object' && v !== null && !Array.isArray(v)
              ? `${JSON.stringify(k)}:{"a":1,"a":2}`
              : `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`,
          )
          .join(',')}}`,
      ),
    );

const contentType = fc.oneof(
  fc.constantFrom(
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=utf-8',
    'application/json',
    'application/json; charset=latin1',
    'text/plain',
    'multipart/form-data; boundary=x',
    'application/jwt',
    '',
  ),
  fc.stringMatching(/^[!-~]{0,40}$/),
);

const encoding = fc.constantFrom(undefined, 'identity', 'gzip', 'br', 'deflate', 'gzip, br', 'x-junk');

/** A body to go with a Content-Encoding: really compressed, or junk that claims to be. */
const encodedBody = (raw: Uint8Array, enc: string | undefined, junk: boolean): Uint8Array => {
  if (junk || enc === undefined || enc === 'identity') return raw;
  if (enc === 'gzip') return new Uint8Array(gzipSync(raw));
  if (enc === 'br') return new Uint8Array(brotliCompressSync(raw));
  return raw;
};

const basic = (id: string | Uint8Array, secret: string | Uint8Array) =>
  `Basic ${Buffer.concat([Buffer.from(id), Buffer.from(':'), Buffer.from(secret)]).toString('base64')}`;

const authorization = (known: Known) =>
  fc.oneof(
    fc.constant(undefined),
    fc.constant(basic(known.clientId, known.clientSecret)),
    fc.constant(basic(known.publicClientId, '')),
    fc.tuple(hostileString, hostileString).map(([id, secret]) => basic(formEncode(id), formEncode(secret))),
    fc.tuple(hostileString, hostileString).map(([id, secret]) => basic(id, secret)),
    fc
      .tuple(fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ maxLength: 24 }))
      .map(([id, s]) => basic(id, s)),
    fc.constant(`Bearer ${known.accessToken}`),
    fc.constant(`Bearer ${known.accessToken}`),
    jwtLike(known).map((t) => `Bearer ${t}`),
    fc.constantFrom(
      'Basic',
      'Basic ====',
      'Basic Og==',
      'Bearer',
      'Digest x',
      `Bearer ${known.refreshToken}`,
    ),
    fc.stringMatching(/^[ -~]{0,80}$/),
  );

/** Header values Node's client will send (visible ASCII and spaces). */
const headerValue = fc.stringMatching(/^[!-~][ -~]{0,60}$/);

/** A request to `path` (with `methods` mostly), everything else hostile. */
/**
 * What a route's likely callers send, so that most cases get past authentication and the reader
 * and reach the route's own code; the hostile mix stays one case in five.
 */
export type Profile = 'any' | 'admin' | 'authorize';

const biased = <T>(likely: fc.Arbitrary<T>, any: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: likely }, { weight: 1, arbitrary: any });

/** A valid authorization request (RFC 6749 §4.1.1) with one or two of its values replaced. */
const authorizationQuery = (known: Known) =>
  fc
    .tuple(pairs(known), fc.boolean())
    .map(([extra, keepValid]): [string, string][] => [
      ['response_type', 'code'],
      ['client_id', known.codeClientId],
      ['redirect_uri', known.redirectUri],
      ['code_challenge', known.codeChallenge],
      ['code_challenge_method', 'S256'],
      ...(keepValid ? extra.slice(0, 1) : extra),
    ]);

/**
 * Queries of the admin lists: each field absent most of the time (so one bad field is not hidden
 * behind another), otherwise at its edges or, less often, hostile.
 */
const adminQuery = (known: Known) => {
  const field = (edges: string[], present: number) =>
    fc.oneof(
      { weight: 6 - present, arbitrary: fc.constant(undefined) },
      { weight: present, arbitrary: fc.constantFrom(...edges) },
      { weight: 1, arbitrary: value(known) },
    );
  return fc
    .record({
      cursor: field(CURSOR_EDGES, 3),
      since: field(DATE_EDGES, 1),
      until: field(DATE_EDGES, 1),
      limit: field(LIMIT_EDGES, 1),
      type: field(['login.failed', 'client.created'], 1),
    })
    .map((q) => Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined));
};

function profiled(known: Known, profile: Profile) {
  const form = (p: [string, string][]) =>
    utf8(p.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join('&'));
  if (profile === 'admin') {
    return {
      contentType: biased(fc.constant('application/json'), contentType),
      encoding: biased(fc.constant(undefined), encoding),
      body: biased(adminDocument(known), body(known)),
      authorization: biased(fc.constant(`Bearer ${known.accessToken}`), authorization(known)),
      query: fc.option(biased(adminQuery(known), pairs(known)), { nil: undefined }),
    };
  }
  if (profile === 'authorize') {
    return {
      contentType: biased(fc.constant('application/x-www-form-urlencoded'), contentType),
      encoding: biased(fc.constant(undefined), encoding),
      body: biased(authorizationQuery(known).map(form), body(known)),
      authorization: fc.constant(undefined),
      query: biased(authorizationQuery(known), pairs(known)),
    };
  }
  return {
    contentType,
    encoding,
    body: body(known),
    authorization: authorization(known),
    query: fc.option(
      fc.oneof(pairs(known), fc.array(fc.tuple(hostileString, hostileString), { maxLength: 3 })),
      {
        nil: undefined,
      },
    ),
  };
}

export const request = (
  known: Known,
  path: fc.Arbitrary<string>,
  methods: string[],
  profile: Profile = 'any',
) =>
  fc
    .record({
      ...profiled(known, profile),
      method: fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom(...methods) },
        { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS') },
      ),
      path,
      junkEncoding: fc.boolean(),
      forwardedFor: fc.option(fc.oneof(headerValue, fc.constant('10.0.0.1, 203.0.113.7')), {
        nil: undefined,
      }),
      requestId: fc.option(headerValue, { nil: undefined }),
      origin: fc.option(fc.constantFrom('http://evil.example', 'null', 'http://tessera.test'), {
        nil: undefined,
      }),
    })
    .map((r): FuzzRequest => {
      const hasBody = r.method !== 'GET' && r.method !== 'OPTIONS';
      const headers: Record<string, string> = {};
      if (r.contentType) headers['content-type'] = r.contentType;
      if (r.encoding && hasBody) headers['content-encoding'] = r.encoding;
      if (r.authorization) headers.authorization = r.authorization;
      if (r.forwardedFor) headers['x-forwarded-for'] = r.forwardedFor;
      if (r.requestId) headers['x-request-id'] = r.requestId;
      if (r.origin) headers.origin = r.origin;
      const query = r.query?.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join('&');
      const path = query ? `${r.path}?${query}` : r.path;
      const payload = hasBody ? encodedBody(r.body, r.encoding, r.junkEncoding) : undefined;
      const preview = payload ? Buffer.from(payload.slice(0, 120)).toString('latin1') : '';
      return {
        method: r.method,
        path,
        headers,
        body: payload,
        label: `${r.method} ${path.slice(0, 120)} ${JSON.stringify(headers).slice(0, 300)} ${JSON.stringify(preview)}`,
      };
    });

/** Paths near a real one: the route itself, odd encodings of it, or its parameter slot filled. */
export const pathAround = (path: string) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(path) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        `${path}/`,
        `${path}%00`,
        `${path}/%ff`,
        `${path}/..`,
        `${path.toUpperCase()}`,
        `${path}%2F%2e%2e`,
      ),
    },
  );

/** A path with a parameter slot (`:param`) filled by a real id or hostile, percent-encoded text. */
export const pathWithParam = (template: string, known: Known, ids: string[] = [known.kid]) =>
  fc
    .oneof(
      fc.constantFrom(...ids),
      hostileString,
      fc.constantFrom('%00', '%ff', '%zz', '%c3%28', '00000000-0000-4000-8000-000000000000', 'c_nope'),
    )
    .map((v) => template.replace(':param', /^%/.test(v) ? v : formEncode(v)));

/** One of several routes of an area, parameter slots filled as by pathWithParam. */
export const pathsWithParam = (templates: string[], known: Known, ids: string[]) =>
  fc.constantFrom(...templates).chain((template) => pathWithParam(template, known, ids));
