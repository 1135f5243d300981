import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsPlugin from 'ajv-formats';
import test, { type ExecutionContext } from 'ava';
import type { OpenAPIV3_1 } from 'openapi-types';
import { parse } from 'yaml';
import { createApp } from '../../src/app.js';
import { adminCaller } from '../helpers/admin.js';
import { TEST_REDIS_PREFIX, type TestServer, useServer } from '../helpers/app.js';
import {
  APP_ORIGIN,
  authorizationRequest,
  CookieJar,
  createCodeClient,
  hiddenFields,
} from '../helpers/authorize.js';
import { basic, createClient, createUser, postForm } from '../helpers/oauth.js';

// The live contract of openapi.yaml: every documented operation is called on a real app, for its
// success and for each documented error answer, and each answer's status, content type and body
// are checked against the document (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it). Every
// documented example validates against its own schema, and every error example is what the server
// really says. A route served but not documented, a documented answer no request here produces
// (unless listed in UNREACHED with its reason), or a body that drifts from its schema fails.

type Doc = OpenAPIV3_1.Document;
const doc = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as Doc;

const addFormats = ((formatsPlugin as unknown as { default?: typeof formatsPlugin }).default ??
  formatsPlugin) as unknown as (ajv: Ajv2020) => void;
// strict: false because the document is not itself a schema (ajv ignores `paths`, `example`, …);
// the schemas inside it are compiled by JSON pointer into it, so their `#/components/…` refs resolve.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat('password', true);
ajv.addSchema(doc as object, 'openapi.json');

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'options'] as const;
type Method = (typeof METHODS)[number];
interface Operation {
  id: string;
  path: string;
  method: Method;
  op: OpenAPIV3_1.OperationObject;
}
const operations = new Map<string, Operation>();
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  for (const method of METHODS) {
    const op = (item as Record<string, OpenAPIV3_1.OperationObject | undefined>)[method];
    if (op?.operationId) operations.set(op.operationId, { id: op.operationId, path, method, op });
  }
}

const pointer = (...parts: string[]) =>
  parts.map((p) => `/${p.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/** A response object and the JSON pointer where it is written (a shared component or inline). */
function responseOf(
  o: Operation,
  status: string,
): { where: string; response: OpenAPIV3_1.ResponseObject } | undefined {
  const r = o.op.responses?.[status] as (OpenAPIV3_1.ResponseObject & { $ref?: string }) | undefined;
  if (!r) return undefined;
  if (r.$ref) {
    const name = r.$ref.replace('#/components/responses/', '');
    return {
      where: pointer('components', 'responses', name),
      response: doc.components?.responses?.[name] as never,
    };
  }
  return { where: pointer('paths', o.path, o.method, 'responses', status), response: r };
}

/** The part of the document at a JSON pointer. */
function at(where: string): unknown {
  let node: unknown = doc;
  for (const part of where.split('/').slice(1))
    node = (node as Record<string, unknown>)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return node;
}

const validators = new Map<string, ValidateFunction>();
function validatorAt(where: string): ValidateFunction {
  let v = validators.get(where);
  if (!v) {
    v = ajv.getSchema(`openapi.json#${where}`);
    if (!v) throw new Error(`no schema at ${where}`);
    validators.set(where, v);
  }
  return v;
}

/** What was seen: `operationId status`, and the bodies answered at each response location. */
const seen = new Set<string>();
const bodiesAt = new Map<string, unknown[]>();

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

interface CallOptions {
  params?: Record<string, string>;
  query?: string;
  headers?: Record<string, string>;
  token?: string;
  json?: unknown;
  form?: Record<string, string>;
  /** A raw body, sent with the `content-type` of `headers`. */
  raw?: string;
  jar?: CookieJar;
}

/**
 * Calls one documented operation on `s` and checks the answer against the document: the status is
 * `status` and documented for the operation; a body has a documented content type and validates
 * against its schema; an empty body is documented as such.
 */
async function call(
  t: ExecutionContext,
  s: TestServer,
  id: string,
  status: number,
  options: CallOptions = {},
): Promise<Answer> {
  const o = operations.get(id);
  if (!o) throw new Error(`no operation ${id} in openapi.yaml`);
  const path = o.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = options.params?.[name];
    if (value === undefined) throw new Error(`${id}: no value for {${name}}`);
    return encodeURIComponent(value);
  });
  const headers: Record<string, string> = { ...options.jar?.header(), ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.raw;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  }
  if (options.form) {
    body = new URLSearchParams(options.form).toString();
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  }
  const res = await fetch(`${s.url}${path}${options.query ? `?${options.query}` : ''}`, {
    method: o.method.toUpperCase(),
    headers,
    body,
    redirect: 'manual',
  });
  options.jar?.store(res.headers);
  const text = await res.text();
  const type = (res.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const parsed: unknown = text && type.endsWith('json') ? JSON.parse(text) : text;
  const what = `${o.method.toUpperCase()} ${o.path} (${id}) answered ${res.status}: ${text.slice(0, 300)}`;
  t.is(res.status, status, what);
  const documented = responseOf(o, String(res.status));
  if (!documented) {
    t.fail(`${what}: status not documented`);
    return { status: res.status, headers: res.headers, text, body: parsed };
  }
  seen.add(`${id} ${res.status}`);
  const content = documented.response.content ?? {};
  if (text === '') {
    t.deepEqual(Object.keys(content), [], `${what}: an empty body, documented with content`);
  } else if (!content[type]) {
    t.fail(`${what}: content type ${type} not documented (${Object.keys(content).join(', ') || 'none'})`);
  } else {
    const where = `${documented.where}${pointer('content', type, 'schema')}`;
    const validate = validatorAt(where);
    t.true(validate(parsed), `${what}\n  does not match ${where}: ${ajv.errorsText(validate.errors)}`);
    const list = bodiesAt.get(documented.where) ?? [];
    list.push(parsed);
    bodiesAt.set(documented.where, list);
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/**
 * Documented answers no request here produces, each with the reason and where it is tested.
 * Anything else documented must be produced by the tests below.
 */
const UNREACHED: Record<string, string> = {
  'signIn 503': 'the database down: test/http/outage.test.ts',
  'token 503': 'the database down: test/http/outage.test.ts',
  'revoke 503': 'the database down: test/http/outage.test.ts',
  'introspect 503': 'the database down: test/http/outage.test.ts',
  'revokeKey 409': 'documented for clients, not produced by this version (see its description)',
};

const OPEN_REGISTRATION = {
  CLIENT_REGISTRATION: 'open',
  THIRD_PARTY_SCOPES: 'read write',
  RATE_LIMIT_REGISTRATIONS_PER_HOUR: '1000',
};
/** Tight limits, in a Redis namespace of its own so the other servers' counts do not mix in. */
const TIGHT = {
  CLIENT_REGISTRATION: 'token',
  THIRD_PARTY_SCOPES: 'read write',
  RATE_LIMIT_REGISTRATIONS_PER_HOUR: '2',
  RATE_LIMIT_CLIENT_PER_MINUTE: '2',
  RATE_LIMIT_LOGIN_FAILURES: '1',
  ...(process.env.REDIS_URL ? { REDIS_KEY_PREFIX: `${TEST_REDIS_PREFIX}tight:` } : {}),
};

const BIG = 'x'.repeat(17 * 1024);
const WEB_APP = { redirect_uris: ['https://app.example.test/callback'], client_name: 'Notes' };
const UNKNOWN_USER = '00000000-0000-4000-8000-000000000000';

test.serial('every route the app serves is a documented operation', async (t) => {
  const s = await useServer(t);
  const app = createApp(s.services);
  let routes = 0;
  for (const mw of app.middleware as { router?: { stack: { path: string; methods: string[] }[] } }[]) {
    for (const layer of mw.router?.stack ?? []) {
      const path = layer.path.replace(/:(\w+)/g, '{$1}');
      for (const m of layer.methods.filter((x) => x !== 'HEAD')) {
        routes++;
        const op = (doc.paths?.[path] as Record<string, OpenAPIV3_1.OperationObject> | undefined)?.[
          m.toLowerCase()
        ];
        t.truthy(op?.operationId, `${m} ${path} is served but not documented in openapi.yaml`);
      }
    }
  }
  t.true(routes > 30, `${routes} routes`);
});

test.serial('every documented example validates against its own schema', (t) => {
  let examples = 0;
  const check = (where: string, media: OpenAPIV3_1.MediaTypeObject) => {
    const list: [string, unknown][] = [];
    if (media.example !== undefined) list.push(['example', media.example]);
    for (const [name, e] of Object.entries(media.examples ?? {}))
      list.push([name, (e as OpenAPIV3_1.ExampleObject).value]);
    for (const [name, value] of list) {
      examples++;
      const v = validatorAt(`${where}/schema`);
      t.true(v(value), `example ${name} at ${where}: ${ajv.errorsText(v.errors)}`);
    }
  };
  const walkContent = (where: string, content: Record<string, OpenAPIV3_1.MediaTypeObject> | undefined) => {
    for (const [type, media] of Object.entries(content ?? {}))
      check(`${where}${pointer('content', type)}`, media);
  };
  for (const o of operations.values()) {
    const body = o.op.requestBody as OpenAPIV3_1.RequestBodyObject | undefined;
    walkContent(pointer('paths', o.path, o.method, 'requestBody'), body?.content);
    for (const [status, r] of Object.entries(o.op.responses ?? {}))
      if (!('$ref' in r)) walkContent(pointer('paths', o.path, o.method, 'responses', status), r.content);
  }
  for (const [name, r] of Object.entries(doc.components?.responses ?? {}))
    walkContent(pointer('components', 'responses', name), (r as OpenAPIV3_1.ResponseObject).content);
  t.true(examples > 15, `${examples} examples`);
});

test.serial('discovery, ops and the malformed query every GET refuses', async (t) => {
  const s = await useServer(t, { env: OPEN_REGISTRATION });
  for (const id of ['jwks', 'metadata']) {
    const first = await call(t, s, id, 200);
    await call(t, s, id, 304, { headers: { 'if-none-match': first.headers.get('etag') ?? '' } });
  }
  for (const id of ['jwks', 'metadata', 'healthz', 'readyz', 'metrics']) {
    await call(t, s, id, 200);
    await call(t, s, id, 400, { query: 'a=%zz' });
  }
  s.services.drain.start();
  await call(t, s, 'readyz', 503);
});

test.serial(
  'every path answers a method it does not serve with 405, Allow and the documented body',
  async (t) => {
    const s = await useServer(t, { env: OPEN_REGISTRATION });
    for (const [template, item] of Object.entries(doc.paths ?? {})) {
      const served = METHODS.filter((m) => (item as Record<string, unknown>)[m]);
      const other = (['put', 'patch', 'delete', 'post', 'get'] as const).find((m) => !served.includes(m));
      if (!other) continue;
      const path = template.replace(/\{(\w+)\}/g, (_, n) => (n === 'id' ? UNKNOWN_USER : 'x'));
      const res = await fetch(`${s.url}${path}`, { method: other.toUpperCase() });
      t.is(res.status, 405, `${other} ${template}`);
      const allow = new Set((res.headers.get('allow') ?? '').split(/,\s*/));
      allow.delete('HEAD');
      t.deepEqual(
        [...allow].map((m) => m.toLowerCase()).sort(),
        served.filter((m) => m !== 'options' || allow.has('OPTIONS')).sort(),
        `Allow of ${template}`,
      );
      t.deepEqual(await res.json(), { error: 'invalid_request', error_description: 'method not allowed' });
    }
  },
);

test.serial('token, revoke, introspect, me and logout: success and each documented error', async (t) => {
  const s = await useServer(t, { env: OPEN_REGISTRATION });
  const app = await createClient(s, {
    name: 'contract app',
    grantTypes: ['password', 'refresh_token'],
    scopes: ['read'],
    allowedOrigins: [APP_ORIGIN],
  });
  const api = await createClient(s, {
    name: 'contract api',
    grantTypes: ['client_credentials'],
    canIntrospect: true,
  });
  const plain = await createClient(s, { name: 'contract service', grantTypes: ['client_credentials'] });
  const user = await createUser(s, 'contract');
  const auth = { authorization: basic(app.client_id, app.client_secret ?? '') };
  const login = (extra: Record<string, string> = {}) =>
    call(t, s, 'token', 200, {
      headers: auth,
      form: { grant_type: 'password', username: user.username, password: user.password, ...extra },
    });

  const tokens = (await login()).body as Record<string, string>;
  await call(t, s, 'token', 400, {
    headers: auth,
    form: { grant_type: 'password', username: user.username, password: 'wrong password!' },
  });
  await call(t, s, 'token', 400, { headers: auth, form: { grant_type: 'nonsense' } });
  await call(t, s, 'token', 400, {
    headers: auth,
    form: {
      grant_type: 'password',
      username: user.username,
      password: user.password,
      resource: 'https://x.test/',
    },
  });
  await call(t, s, 'token', 401, {
    headers: { authorization: basic(app.client_id, 'wrong') },
    form: { grant_type: 'password' },
  });
  await call(t, s, 'token', 403, {
    headers: { ...auth, cookie: 'tessera_login=x' },
    form: { grant_type: 'password' },
  });
  await call(t, s, 'token', 413, {
    headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
    raw: BIG,
  });
  await call(t, s, 'token', 415, {
    headers: { ...auth, 'content-type': 'text/plain' },
    raw: 'grant_type=password',
  });

  for (const id of ['tokenPreflight', 'revokePreflight', 'logoutPreflight', 'mePreflight']) {
    const preflight = { 'access-control-request-method': id === 'mePreflight' ? 'GET' : 'POST' };
    await call(t, s, id, 204, { headers: { ...preflight, origin: APP_ORIGIN } });
    await call(t, s, id, 403, { headers: { ...preflight, origin: 'https://evil.example.test' } });
  }

  const apiAuth = { authorization: basic(api.client_id, api.client_secret ?? '') };
  await call(t, s, 'introspect', 200, { headers: apiAuth, form: { token: tokens.access_token as string } });
  await call(t, s, 'introspect', 200, { headers: apiAuth, form: { token: 'not a token' } });
  await call(t, s, 'introspect', 400, { headers: apiAuth, form: {} });
  await call(t, s, 'introspect', 401, {
    headers: { authorization: basic(api.client_id, 'wrong') },
    form: { token: 'x' },
  });
  await call(t, s, 'introspect', 403, {
    headers: { authorization: basic(plain.client_id, plain.client_secret ?? '') },
    form: { token: 'x' },
  });
  await call(t, s, 'introspect', 413, {
    headers: { ...apiAuth, 'content-type': 'application/x-www-form-urlencoded' },
    raw: BIG,
  });
  await call(t, s, 'introspect', 415, {
    headers: { ...apiAuth, 'content-type': 'text/plain' },
    raw: 'token=x',
  });

  await call(t, s, 'me', 200, { token: tokens.access_token });
  await call(t, s, 'me', 401, { token: 'not-a-token' });
  await call(t, s, 'me', 401);

  await call(t, s, 'revoke', 200, { headers: auth, form: { token: tokens.refresh_token as string } });
  await call(t, s, 'revoke', 400, { headers: auth, form: {} });
  await call(t, s, 'revoke', 401, {
    headers: { authorization: basic(app.client_id, 'wrong') },
    form: { token: 'x' },
  });
  await call(t, s, 'revoke', 403, { headers: { ...auth, cookie: 'tessera_login=x' }, form: { token: 'x' } });
  await call(t, s, 'revoke', 413, {
    headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
    raw: BIG,
  });
  await call(t, s, 'revoke', 415, { headers: { ...auth, 'content-type': 'text/plain' }, raw: 'token=x' });

  const second = (await login()).body as Record<string, string>;
  await call(t, s, 'logout', 400, { token: second.access_token, form: { client_id: plain.client_id } });
  await call(t, s, 'logout', 401, { token: 'not-a-token' });
  await call(t, s, 'logout', 403, { token: second.access_token, headers: { cookie: 'tessera_login=x' } });
  await call(t, s, 'logout', 204, { token: second.access_token });
});

test.serial('the browser flow: login page, sign-in, consent', async (t) => {
  const s = await useServer(t, { env: OPEN_REGISTRATION });
  const first = await createCodeClient(s, { isPublic: true });
  const user = await createUser(s, 'browser');
  const jar = new CookieJar();
  const request = authorizationRequest(first.client_id);
  const page = await call(t, s, 'authorize', 200, {
    query: new URLSearchParams(request.params).toString(),
    jar,
  });
  await call(t, s, 'authorize', 302, {
    query: new URLSearchParams({ ...request.params, code_challenge_method: 'plain' }).toString(),
  });
  await call(t, s, 'authorize', 400, {
    query: new URLSearchParams({ ...request.params, client_id: 'c_unknown' }).toString(),
  });
  const fields = hiddenFields(page.text);
  await call(t, s, 'signIn', 403, {
    jar,
    form: { ...fields, csrf_token: 'stale', username: user.username, password: user.password },
  });
  const again = hiddenFields(
    (await call(t, s, 'authorize', 200, { query: new URLSearchParams(request.params).toString(), jar })).text,
  );
  await call(t, s, 'signIn', 400, {
    jar,
    form: { ...again, username: user.username, password: 'wrong password!' },
  });
  const retry = hiddenFields(
    (await call(t, s, 'authorize', 200, { query: new URLSearchParams(request.params).toString(), jar })).text,
  );
  await call(t, s, 'signIn', 303, {
    jar,
    form: { ...retry, username: user.username, password: user.password },
  });

  // A third-party client: the consent page after the login, then the decision.
  const registered = (
    await call(t, s, 'registerClient', 201, { json: { ...WEB_APP, token_endpoint_auth_method: 'none' } })
  ).body as Record<string, string>;
  const third = authorizationRequest(registered.client_id as string);
  const thirdJar = new CookieJar();
  const login = hiddenFields(
    (
      await call(t, s, 'authorize', 200, {
        query: new URLSearchParams(third.params).toString(),
        jar: thirdJar,
      })
    ).text,
  );
  const consent = await call(t, s, 'signIn', 200, {
    jar: thirdJar,
    form: { ...login, username: user.username, password: user.password },
  });
  const decision = hiddenFields(consent.text);
  await call(t, s, 'decideConsent', 403, {
    jar: thirdJar,
    form: { ...decision, csrf_token: 'stale', decision: 'allow' },
  });
  await call(t, s, 'decideConsent', 400, {
    jar: thirdJar,
    form: { ...decision, client_id: 'c_unknown', decision: 'allow' },
  });
  await call(t, s, 'decideConsent', 200, { form: { ...decision, decision: 'allow' } });
  const fresh = hiddenFields(
    (
      await call(t, s, 'authorize', 200, {
        query: new URLSearchParams({ ...third.params, prompt: 'consent' }).toString(),
        jar: thirdJar,
      })
    ).text,
  );
  await call(t, s, 'decideConsent', 303, { jar: thirdJar, form: { ...fresh, decision: 'allow' } });

  // The consent is now on record: the admin view of it.
  const admin = await adminCaller(s, 'admin:users');
  const users = await call(t, s, 'listUserConsents', 200, { token: admin.token, params: { id: user.id } });
  t.true(((users.body as { consents: unknown[] }).consents.length ?? 0) > 0);
  await call(t, s, 'listUserConsents', 404, { token: admin.token, params: { id: UNKNOWN_USER } });
  await call(t, s, 'revokeUserConsent', 200, {
    token: admin.token,
    params: { id: user.id, client_id: registered.client_id as string },
  });
  await call(t, s, 'revokeUserConsent', 404, {
    token: admin.token,
    params: { id: UNKNOWN_USER, client_id: registered.client_id as string },
  });
});

test.serial('registration: open, off and token mode', async (t) => {
  const s = await useServer(t, { env: OPEN_REGISTRATION });
  const reg = (await call(t, s, 'registerClient', 201, { json: WEB_APP })).body as Record<string, string>;
  await call(t, s, 'registerClient', 400, { json: { ...WEB_APP, redirect_uris: ['not a uri'] } });
  await call(t, s, 'registerClient', 413, {
    headers: { 'content-type': 'application/json' },
    raw: `"${BIG}"`,
  });
  await call(t, s, 'registerClient', 415, { headers: { 'content-type': 'text/plain' }, raw: '{}' });
  const id = { client_id: reg.client_id as string };
  const token = reg.registration_access_token as string;
  await call(t, s, 'readRegistration', 200, { params: id, token });
  await call(t, s, 'readRegistration', 401, { params: id, token: 'wrong' });
  await call(t, s, 'updateRegistration', 200, {
    params: id,
    token,
    json: { ...WEB_APP, client_id: id.client_id, client_name: 'Notes 2' },
  });
  await call(t, s, 'updateRegistration', 400, {
    params: id,
    token,
    json: { ...WEB_APP, client_id: id.client_id, redirect_uris: ['nope'] },
  });
  await call(t, s, 'updateRegistration', 401, {
    params: id,
    token: 'wrong',
    json: { ...WEB_APP, client_id: id.client_id },
  });
  await call(t, s, 'updateRegistration', 413, {
    params: id,
    token,
    headers: { 'content-type': 'application/json' },
    raw: `"${BIG}"`,
  });
  await call(t, s, 'updateRegistration', 415, {
    params: id,
    token,
    headers: { 'content-type': 'text/plain' },
    raw: '{}',
  });
  await call(t, s, 'deleteRegistration', 401, { params: id, token: 'wrong' });
  await call(t, s, 'deleteRegistration', 204, { params: id, token });

  const off = await useServer(t);
  await call(t, off, 'registerClient', 404, { json: WEB_APP });
  for (const op of ['readRegistration', 'updateRegistration', 'deleteRegistration'])
    await call(t, off, op, 404, {
      params: id,
      token,
      json: op === 'updateRegistration' ? WEB_APP : undefined,
    });

  const tight = await useServer(t, { env: TIGHT });
  await call(t, tight, 'registerClient', 401, { json: WEB_APP });
  const users = await adminCaller(tight, 'admin:users');
  await call(t, tight, 'registerClient', 403, { json: WEB_APP, token: users.token });
  await call(t, tight, 'registerClient', 429, { json: WEB_APP });
});

test.serial('rate limits: per client, and the login lockout', async (t) => {
  const tight = await useServer(t, { env: TIGHT });
  const app = await createClient(tight, { name: 'limited', grantTypes: ['password'], canIntrospect: true });
  const auth = { authorization: basic(app.client_id, app.client_secret ?? '') };
  let last = 0;
  for (let i = 0; i < 3 && last !== 429; i++)
    last = (await postForm(`${tight.url}/token`, { grant_type: 'nonsense' }, auth)).status;
  await call(t, tight, 'token', 429, { headers: auth, form: { grant_type: 'nonsense' } });
  last = 0;
  for (let i = 0; i < 3 && last !== 429; i++)
    last = (await postForm(`${tight.url}/introspect`, { token: 'x' }, auth)).status;
  await call(t, tight, 'introspect', 429, { headers: auth, form: { token: 'x' } });

  const code = await createCodeClient(tight, { isPublic: true });
  const user = await createUser(tight, 'locked');
  const jar = new CookieJar();
  const request = authorizationRequest(code.client_id);
  const open = async () =>
    hiddenFields(
      (await call(t, tight, 'authorize', 200, { query: new URLSearchParams(request.params).toString(), jar }))
        .text,
    );
  await call(t, tight, 'signIn', 400, {
    jar,
    form: { ...(await open()), username: user.username, password: 'wrong one!' },
  });
  await call(t, tight, 'signIn', 429, {
    jar,
    form: { ...(await open()), username: user.username, password: 'wrong one!' },
  });
});

test.serial('the admin API: success and each documented error of every operation', async (t) => {
  const s = await useServer(t, { env: OPEN_REGISTRATION });
  const admin = await adminCaller(s, 'admin');
  const audit = await adminCaller(s, 'admin:audit');
  const keysOnly = await adminCaller(s, 'admin:keys');
  let token = admin.token;

  // 401 without a token and 403 with another area's token, for every admin operation.
  const user = await createUser(s, 'managed');
  const sample: Record<string, string> = { id: UNKNOWN_USER, kid: 'k', sid: 'x', client_id: 'x' };
  for (const o of operations.values()) {
    const security = JSON.stringify(o.op.security ?? []);
    if (!security.includes('adminToken') || o.id === 'registerClient') continue;
    const params = Object.fromEntries(
      [...o.path.matchAll(/\{(\w+)\}/g)].map(([, n]) => [n as string, sample[n as string] ?? 'x']),
    );
    await call(t, s, o.id, 401, { params });
    await call(t, s, o.id, 403, {
      params,
      token: o.path.startsWith('/admin/audit') ? keysOnly.token : audit.token,
    });
  }

  // Keys
  await call(t, s, 'listKeys', 200, { token });
  await call(t, s, 'rotateKeys', 409, { token });
  const rotated = (await call(t, s, 'rotateKeys', 200, { token, json: { force: true } })).body as {
    keys: { kid: string; state: string }[];
  };
  await call(t, s, 'rotateKeys', 400, { token, json: { force: 'yes' } });
  await call(t, s, 'rotateKeys', 413, {
    token,
    headers: { 'content-type': 'application/json' },
    raw: `"${BIG}"`,
  });
  await call(t, s, 'rotateKeys', 415, { token, headers: { 'content-type': 'text/plain' }, raw: '{}' });
  const retired = rotated.keys.find((k) => k.state === 'retired');
  await call(t, s, 'revokeKey', 200, { token, params: { kid: retired?.kid ?? 'none' } });
  // The retired key signed the admin tokens above: they stop with it. A fresh one from here on.
  token = (await adminCaller(s, 'admin')).token;
  await call(t, s, 'revokeKey', 404, { token, params: { kid: 'no-such-kid' } });

  // Clients
  const created = (
    await call(t, s, 'createClient', 201, {
      token,
      json: { name: 'contract client', grant_types: ['client_credentials'] },
    })
  ).body as Record<string, string>;
  const client = { id: created.client_id as string };
  await call(t, s, 'createClient', 400, { token, json: [] });
  await call(t, s, 'createClient', 413, {
    token,
    headers: { 'content-type': 'application/json' },
    raw: `"${BIG}"`,
  });
  await call(t, s, 'createClient', 415, { token, headers: { 'content-type': 'text/plain' }, raw: '{}' });
  await call(t, s, 'createClient', 422, { token, json: { name: 'bad', grant_types: ['implicit'] } });
  await call(t, s, 'listClients', 200, { token });
  await call(t, s, 'listClients', 422, { token, query: 'limit=0' });
  await call(t, s, 'getClient', 200, { token, params: client });
  await call(t, s, 'getClient', 404, { token, params: { id: 'c_unknown' } });
  await call(t, s, 'updateClient', 200, { token, params: client, json: { name: 'renamed' } });
  await call(t, s, 'updateClient', 400, { token, params: client, json: [] });
  await call(t, s, 'updateClient', 404, { token, params: { id: 'c_unknown' }, json: { name: 'x' } });
  await call(t, s, 'updateClient', 415, {
    token,
    params: client,
    headers: { 'content-type': 'text/plain' },
    raw: '{}',
  });
  await call(t, s, 'updateClient', 422, { token, params: client, json: { grant_types: ['implicit'] } });
  await call(t, s, 'rotateClientSecret', 200, { token, params: client });
  await call(t, s, 'rotateClientSecret', 404, { token, params: { id: 'c_unknown' } });
  const pub = await createCodeClient(s, { isPublic: true });
  await call(t, s, 'rotateClientSecret', 422, { token, params: { id: pub.client_id } });
  await call(t, s, 'disableClient', 200, { token, params: client });
  await call(t, s, 'disableClient', 404, { token, params: { id: 'c_unknown' } });

  // Users and sessions
  const made = (
    await call(t, s, 'createUser', 201, {
      token,
      json: { username: `contract_${Date.now()}`, password: 'a long enough password' },
    })
  ).body as Record<string, string>;
  await call(t, s, 'createUser', 400, { token, json: [] });
  await call(t, s, 'createUser', 409, {
    token,
    json: { username: user.username, password: 'a long enough password' },
  });
  await call(t, s, 'createUser', 415, { token, headers: { 'content-type': 'text/plain' }, raw: '{}' });
  await call(t, s, 'createUser', 422, { token, json: { username: 'short_pw', password: 'x' } });
  await call(t, s, 'listUsers', 200, { token });
  await call(t, s, 'listUsers', 422, { token, query: 'limit=0' });
  await call(t, s, 'getUser', 200, { token, params: { id: made.id as string } });
  await call(t, s, 'getUser', 404, { token, params: { id: UNKNOWN_USER } });
  const password = { id: user.id };
  await call(t, s, 'setUserPassword', 204, {
    token,
    params: password,
    json: { password: 'another long password' },
  });
  await call(t, s, 'setUserPassword', 400, { token, params: password, json: [] });
  await call(t, s, 'setUserPassword', 404, {
    token,
    params: { id: UNKNOWN_USER },
    json: { password: 'another long password' },
  });
  await call(t, s, 'setUserPassword', 415, {
    token,
    params: password,
    headers: { 'content-type': 'text/plain' },
    raw: '{}',
  });
  await call(t, s, 'setUserPassword', 422, { token, params: password, json: { password: 'x' } });

  const app = await createClient(s, {
    name: 'session app',
    grantTypes: ['password', 'refresh_token'],
    scopes: ['read'],
  });
  const login = await postForm(
    `${s.url}/token`,
    { grant_type: 'password', username: user.username, password: 'another long password' },
    { authorization: basic(app.client_id, app.client_secret ?? '') },
  );
  t.is(login.status, 200);
  const sessions = (await call(t, s, 'listUserSessions', 200, { token, params: { id: user.id } })).body as {
    sessions: { session_id: string }[];
  };
  await call(t, s, 'listUserSessions', 404, { token, params: { id: UNKNOWN_USER } });
  await call(t, s, 'endSession', 204, { token, params: { sid: sessions.sessions[0]?.session_id ?? 'none' } });
  await call(t, s, 'endSession', 404, { token, params: { sid: 'no-such-session' } });
  await call(t, s, 'endUserSessions', 200, { token, params: { id: user.id } });
  await call(t, s, 'endUserSessions', 404, { token, params: { id: UNKNOWN_USER } });
  await call(t, s, 'disableUser', 200, { token, params: { id: made.id as string } });
  await call(t, s, 'disableUser', 404, { token, params: { id: UNKNOWN_USER } });

  // Audit
  await call(t, s, 'listAuditEvents', 200, { token });
  await call(t, s, 'listAuditEvents', 422, { token, query: 'limit=0' });
});

test.serial('every documented answer was produced, and every error example is what the server says', (t) => {
  // Collected, so one run names every gap rather than the first.
  const problems: string[] = [];
  for (const o of operations.values()) {
    for (const status of Object.keys(o.op.responses ?? {})) {
      const key = `${o.id} ${status}`;
      if (UNREACHED[key]) {
        if (seen.has(key)) problems.push(`${key} is produced now: drop it from UNREACHED`);
      } else if (!seen.has(key))
        problems.push(
          `${o.method.toUpperCase()} ${o.path} ${status} (${o.id}) is documented but no test produced it`,
        );
    }
  }
  // Each response location and the answers that use it; one used only by UNREACHED answers has no
  // live body to compare with.
  const uses = new Map<string, string[]>();
  for (const o of operations.values())
    for (const status of Object.keys(o.op.responses ?? {})) {
      const r = responseOf(o, status);
      if (r) uses.set(r.where, [...(uses.get(r.where) ?? []), `${o.id} ${status}`]);
    }
  // Numbers in a description (seconds, counts) vary from run to run: compared as `N`.
  const shape = (b: unknown) => JSON.stringify(b).replace(/\d+/g, 'N');
  for (const [where, keys] of uses) {
    if (keys.every((k) => UNREACHED[k])) continue;
    const response = at(where) as OpenAPIV3_1.ResponseObject | undefined;
    for (const [type, media] of Object.entries(response?.content ?? {})) {
      const list: unknown[] = [];
      if (media.example !== undefined) list.push(media.example);
      for (const e of Object.values(media.examples ?? {})) list.push((e as OpenAPIV3_1.ExampleObject).value);
      for (const example of list) {
        if (typeof example !== 'object' || example === null || !('error' in example)) continue;
        const said = bodiesAt.get(where) ?? [];
        if (!said.some((b) => shape(b) === shape(example)))
          problems.push(
            `the example at ${where} (${type}) ${JSON.stringify(example)} is not what the server says: ${[...new Set(said.map((b) => JSON.stringify(b)))].join(' | ')}`,
          );
      }
    }
  }
  t.deepEqual(problems, []);
});
