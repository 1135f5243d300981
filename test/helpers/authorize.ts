import { createHash, randomBytes } from 'node:crypto';
import type { TestServer } from './app.js';
import { createClient } from './oauth.js';

/** A PKCE pair (RFC 7636 §4.1, §4.2) with S256. */
export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A browser-ish cookie jar: name → value, fed from Set-Cookie, sent back as one Cookie header. */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  /** Raw Set-Cookie lines seen, newest last (tests assert attributes on them). */
  readonly setCookies: string[] = [];

  store(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      this.setCookies.push(line);
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const maxAge = attributes.find((a) => /^\s*max-age=/i.test(a));
      if (value === '' || (maxAge && Number(maxAge.split('=')[1]) <= 0)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  }

  lastSetCookie(name: string): string | undefined {
    return this.setCookies.filter((l) => l.startsWith(`${name}=`)).at(-1);
  }
}

export interface BrowserClientOptions {
  name?: string;
  isPublic?: boolean;
  redirectUris?: string[];
  allowedOrigins?: string[];
  refreshCookie?: boolean;
  scopes?: string[];
  audiences?: string[];
  grantTypes?: ('authorization_code' | 'refresh_token' | 'password')[];
}

export const REDIRECT_URI = 'https://app.example.test/callback';
export const APP_ORIGIN = 'https://app.example.test';

/** A client of the authorization code flow (confidential unless `isPublic`). */
export function createCodeClient(s: TestServer, options: BrowserClientOptions = {}) {
  return createClient(s, {
    name: options.name ?? 'Notes app',
    grantTypes: options.grantTypes ?? ['authorization_code', 'refresh_token'],
    scopes: options.scopes ?? ['read', 'write'],
    audiences: options.audiences,
    isPublic: options.isPublic ?? false,
    redirectUris: options.redirectUris ?? [REDIRECT_URI],
    allowedOrigins: options.allowedOrigins,
    refreshCookie: options.refreshCookie,
  });
}

const ENTITIES: Record<string, string> = {
  '&amp;': '&',
  '&quot;': '"',
  '&#39;': "'",
  '&lt;': '<',
  '&gt;': '>',
};
const unescapeHtml = (s: string) => s.replace(/&(amp|quot|#39|lt|gt);/g, (m) => ENTITIES[m] ?? m);

/** The hidden fields of the login form (the authorization request and the CSRF token). */
export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g))
    fields[unescapeHtml(m[1] as string)] = unescapeHtml(m[2] as string);
  return fields;
}

export interface PageAnswer {
  status: number;
  headers: Headers;
  html: string;
  location: string | null;
}

async function answer(res: Response): Promise<PageAnswer> {
  return {
    status: res.status,
    headers: res.headers,
    html: await res.text(),
    location: res.headers.get('location'),
  };
}

/** GET /authorize with the jar's cookies; never follows redirects. */
export async function getAuthorize(s: TestServer, params: Record<string, string>, jar = new CookieJar()) {
  const url = `${s.url}/authorize?${new URLSearchParams(params)}`;
  const res = await fetch(url, { redirect: 'manual', headers: jar.header() });
  jar.store(res.headers);
  return answer(res);
}

/** POST /authorize (the login form) with the jar's cookies. */
export async function postAuthorize(s: TestServer, form: Record<string, string>, jar: CookieJar) {
  const res = await fetch(`${s.url}/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
    body: new URLSearchParams(form).toString(),
  });
  jar.store(res.headers);
  return answer(res);
}

/** The standard authorization request of a client, with a fresh PKCE pair and state. */
export function authorizationRequest(clientId: string, extra: Record<string, string> = {}) {
  const pair = pkce();
  const state = randomBytes(8).toString('hex');
  return {
    pair,
    state,
    params: {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      scope: 'read',
      state,
      code_challenge: pair.challenge,
      code_challenge_method: 'S256',
      ...extra,
    },
  };
}

/** Opens the login page, signs in, and returns the redirect back with its parsed parameters. */
export async function signIn(
  s: TestServer,
  params: Record<string, string>,
  user: { username: string; password: string },
  jar = new CookieJar(),
) {
  const page = await getAuthorize(s, params, jar);
  if (page.status !== 200) throw new Error(`login page: ${page.status} ${page.html.slice(0, 200)}`);
  const res = await postAuthorize(
    s,
    { ...hiddenFields(page.html), username: user.username, password: user.password },
    jar,
  );
  if (!res.location) throw new Error(`sign-in: ${res.status} ${res.html.slice(0, 300)}`);
  return { ...res, jar, query: new URL(res.location).searchParams };
}
