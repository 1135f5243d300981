import { timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { type CodeIssuerDeps, issueAuthorizationCode } from '../authorize/codes.js';
import type { LoginSessions } from '../authorize/login_sessions.js';
import {
  type AuthorizationRequest,
  type RawParams,
  redirectBack,
  resolveTarget,
  validateRequest,
} from '../authorize/request.js';
import type { ConsentSubject, Consents } from '../consent/consents.js';
import { OAuthError } from '../errors.js';
import type { EventBus } from '../events.js';
import { withRequestFacts } from '../facts/request_writer.js';
import { requestStamp } from '../facts/stamp.js';
import { type BrowserCookies, readCookie, setCookie } from '../http/cookies.js';
import { toOAuthError } from '../http/error_handler.js';
import { bodyFields, queryFields } from '../http/input.js';
import { requestState } from '../http/request_state.js';
import { authenticateUser, type CredentialDeps, type CredentialResult } from '../login/credentials.js';
import {
  contentSecurityPolicy,
  formTarget,
  renderConsentPage,
  renderErrorPage,
  renderLoginPage,
} from '../pages/render.js';
import type { ClientStore, UserRecord } from '../stores/types.js';
import { isThirdParty } from '../thirdparty/limits.js';
import { randomToken } from '../tokens/secrets.js';

export interface AuthorizeEndpointDeps {
  issuer: string;
  clients: Pick<ClientStore, 'findById'>;
  loginSessions: LoginSessions;
  codes: CodeIssuerDeps;
  credentials: CredentialDeps;
  cookies: BrowserCookies;
  events: EventBus;
  /** Third-party clients' consents (docs/mcp.md). */
  consents: Pick<Consents, 'has' | 'grant' | 'deny'>;
}

/** One generic answer for every failed sign-in (unknown user, wrong password, disabled user). */
export const LOGIN_FAILED = 'Incorrect username or password.';
const FORM_EXPIRED = 'This sign-in form expired. Please sign in again.';
/** How long a login form stays valid (its CSRF cookie): a person fills it in within minutes. */
const CSRF_TTL_S = 3600;

function sendHtml(ctx: Context, status: number, html: string, formTargets: string[]): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Content-Security-Policy', contentSecurityPolicy(formTargets));
  ctx.body = html;
}

function redirect(ctx: Context, location: string): void {
  // 303 after the login form's POST, so the browser follows with GET (RFC 9110 §15.4.4).
  ctx.status = ctx.method === 'POST' ? 303 : 302;
  ctx.set('Location', location);
  ctx.body = '';
}

/** The error page's heading: the user's words for what went wrong. */
function errorHeading(err: OAuthError): string {
  if (err.status >= 500) return 'Sign-in is unavailable';
  return err.error === 'invalid_client' ? 'Unknown app' : 'This sign-in link is not valid';
}

/**
 * RFC 6749 §4.1.2.1: without a trusted client and redirect URI the user gets Tessera's error page;
 * afterwards every error is redirected to the client with `error`, `state` and `iss`.
 */
export function authorizeErrors(deps: AuthorizeEndpointDeps) {
  return async function answerErrors(ctx: Context, next: Next): Promise<void> {
    try {
      // The sign-in's or consent's audit rows before its answer; a failed insert is answered here.
      await withRequestFacts(ctx, next);
    } catch (err) {
      const oauth = toOAuthError(err, deps.events, '/authorize');
      const target = requestState(ctx).authorizeTarget;
      if (target) {
        const answer = { error: oauth.error, error_description: oauth.description };
        return redirect(ctx, redirectBack(target, deps.issuer, answer));
      }
      for (const [k, v] of Object.entries(oauth.headers)) ctx.set(k, v);
      const heading = errorHeading(oauth);
      const page = renderErrorPage({
        title: heading,
        heading,
        message: oauth.description,
        error: oauth.error,
      });
      sendHtml(ctx, oauth.status, page, []);
    }
  };
}

/** GET: the query string. POST: the login form. Both as the route's input step read them. */
function readRaw(ctx: Context): RawParams {
  if (ctx.method !== 'POST') return queryFields(ctx);
  const raw = bodyFields(ctx);
  requestState(ctx).authorizeForm = raw;
  return raw;
}

/** Validates the authorization request: first what makes redirecting safe, then the rest. */
export function readAuthorizationRequest(deps: AuthorizeEndpointDeps) {
  return async function authorizationRequest(ctx: Context, next: Next): Promise<void> {
    const raw = readRaw(ctx);
    const state = requestState(ctx);
    state.authorizeTarget = await resolveTarget(raw, deps.clients);
    state.authorization = validateRequest(raw, state.authorizeTarget, deps.issuer);
    return next();
  };
}

function authorization(ctx: Context): AuthorizationRequest {
  const { authorization } = requestState(ctx);
  if (!authorization) throw new Error('readAuthorizationRequest must run first');
  return authorization;
}

/** The login form, carrying the authorization request and a CSRF token (double-submit cookie). */
function showLoginPage(
  ctx: Context,
  deps: AuthorizeEndpointDeps,
  page: { status: number; message?: string; username?: string; newCsrfToken?: boolean },
): void {
  const request = authorization(ctx);
  let csrf = page.newCsrfToken ? undefined : readCookie(ctx, deps.cookies.csrf);
  if (csrf === undefined) {
    csrf = randomToken(32);
    setCookie(ctx, deps.cookies.csrf, csrf, CSRF_TTL_S);
  }
  const html = renderLoginPage({
    title: 'Sign in',
    clientName: request.client.name,
    action: '/authorize',
    hidden: [...request.original, ['csrf_token', csrf]],
    username: page.username ?? '',
    message: page.message,
  });
  sendHtml(ctx, page.status, html, [formTarget(request.redirectUri)]);
}

async function redirectWithCode(
  ctx: Context,
  deps: AuthorizeEndpointDeps,
  user: UserRecord,
  loginSessionId: string,
): Promise<void> {
  const request = authorization(ctx);
  const code = await issueAuthorizationCode(deps.codes, {
    loginSessionId,
    clientId: request.client.id,
    userId: user.id,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    dpopJkt: request.dpopJkt ?? null,
    scope: request.scope,
    audience: request.audience,
  });
  redirect(ctx, redirectBack(request, deps.issuer, { code }));
}

/** GET /authorize: a code at once while the login session lives, else the login page. */
export function answerAuthorization(deps: AuthorizeEndpointDeps) {
  return async function sessionOrLoginPage(ctx: Context): Promise<void> {
    const request = authorization(ctx);
    const signedIn = await deps.loginSessions.signedIn(readCookie(ctx, deps.cookies.login));
    if (request.prompt === 'none' && !signedIn)
      throw new OAuthError('login_required', 'the user is not signed in');
    if (signedIn && request.prompt !== 'login')
      return afterSignIn(ctx, deps, signedIn.user, signedIn.sessionId);
    showLoginPage(ctx, deps, { status: 200 });
  };
}

function csrfMatches(ctx: Context, deps: AuthorizeEndpointDeps): boolean {
  const cookie = readCookie(ctx, deps.cookies.csrf);
  const field = requestState(ctx).authorizeForm?.values.get('csrf_token');
  if (cookie === undefined || field === undefined) return false;
  const a = Buffer.from(cookie);
  const b = Buffer.from(field);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Minutes in a Retry-After, for a person rather than a program. */
const inMinutes = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));

/** The login page's answer to a sign-in that did not succeed. */
function showRefusal(
  ctx: Context,
  deps: AuthorizeEndpointDeps,
  result: Exclude<CredentialResult<unknown>, { kind: 'ok' }>,
  username: string,
): void {
  switch (result.kind) {
    case 'bad_credentials':
    case 'disabled':
      showLoginPage(ctx, deps, { status: 400, message: LOGIN_FAILED, username });
      return;
    case 'locked': {
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      const minutes = inMinutes(result.retryAfterSeconds);
      const message = `Too many failed sign-in attempts. Try again in about ${minutes} minute(s).`;
      showLoginPage(ctx, deps, { status: 429, message, username });
      return;
    }
    case 'busy':
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      showLoginPage(ctx, deps, {
        status: 503,
        message: 'Sign-in is busy right now. Please try again in a moment.',
        username,
      });
      return;
  }
}

/**
 * POST /authorize: the login form. The same credentials check, throttle and generic failure as
 * the password grant (src/login/credentials.ts); success starts a login session and redirects
 * with the code.
 */
export function signIn(deps: AuthorizeEndpointDeps) {
  return async function signInWithPassword(ctx: Context): Promise<void> {
    const request = authorization(ctx);
    const form = requestState(ctx).authorizeForm?.values ?? new Map<string, string>();
    if (!csrfMatches(ctx, deps)) {
      // A stale or forged form: a fresh one, never a sign-in.
      return showLoginPage(ctx, deps, { status: 403, message: FORM_EXPIRED, newCsrfToken: true });
    }
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    if (username === '' || password === '') {
      return showLoginPage(ctx, deps, { status: 400, message: LOGIN_FAILED, username });
    }
    const attempt = {
      clientId: request.client.id,
      username,
      password,
      ip: ctx.ip,
      stamp: requestStamp(ctx, request.client.id),
      method: 'authorization_code' as const,
    };
    const result = await authenticateUser(deps.credentials, attempt, async (user) => {
      const previous = readCookie(ctx, deps.cookies.login);
      if (previous !== undefined) await deps.loginSessions.end(previous, 'signed_in_again');
      return deps.loginSessions.start(user.id);
    });
    if (result.kind !== 'ok') return showRefusal(ctx, deps, result, username);
    setCookie(ctx, deps.cookies.login, result.session.token, result.session.maxAge);
    await afterSignIn(ctx, deps, result.user, result.session.id);
  };
}

// --- Consent of third-party clients (docs/mcp.md, "Consent") -------------------------------------

const consentSubject = (request: AuthorizationRequest): ConsentSubject => ({
  clientId: request.client.id,
  scope: request.scope,
  audience: request.audience,
});

/** First-party clients get the code at once; a third-party one needs the user's consent. */
async function afterSignIn(
  ctx: Context,
  deps: AuthorizeEndpointDeps,
  user: UserRecord,
  loginSessionId: string,
): Promise<void> {
  const request = authorization(ctx);
  if (!isThirdParty(request.client)) return redirectWithCode(ctx, deps, user, loginSessionId);
  if (request.prompt !== 'consent' && (await deps.consents.has(user.id, consentSubject(request))))
    return redirectWithCode(ctx, deps, user, loginSessionId);
  if (request.prompt === 'none')
    throw new OAuthError('consent_required', 'the user has not allowed this app yet');
  showConsentPage(ctx, deps, 200);
}

/** Where the app comes from, in the user's words: its metadata document's host, or how it registered. */
function clientOrigin(client: AuthorizationRequest['client']): string {
  return client.kind === 'metadata_document' ? new URL(client.id).host : 'registered dynamically';
}

const LOOPBACK_REDIRECT = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/i;

/** The consent form (same rules as the login form: CSRF token, CSP, no script, no-store). */
function showConsentPage(ctx: Context, deps: AuthorizeEndpointDeps, status: number, newCsrfToken = false) {
  const request = authorization(ctx);
  let csrf = newCsrfToken ? undefined : readCookie(ctx, deps.cookies.csrf);
  if (csrf === undefined) {
    csrf = randomToken(32);
    setCookie(ctx, deps.cookies.csrf, csrf, CSRF_TTL_S);
  }
  const redirect = new URL(request.redirectUri);
  const html = renderConsentPage({
    title: 'Allow access',
    clientName: request.client.name,
    clientOrigin: clientOrigin(request.client),
    redirectHost: redirect.host === '' ? redirect.protocol : redirect.host,
    loopback: LOOPBACK_REDIRECT.test(redirect.hostname),
    scopes: request.scope.split(' ').filter(Boolean),
    resource: request.audience.join(', '),
    action: '/authorize/consent',
    hidden: [...request.original, ['csrf_token', csrf]],
  });
  sendHtml(ctx, status, html, [formTarget(request.redirectUri)]);
}

/**
 * POST /authorize/consent: Allow issues the code and remembers the consent for CONSENT_TTL; Deny
 * answers `access_denied` (RFC 6749 §4.1.2.1). Needs the login session and the form's CSRF token.
 */
export function decideConsent(deps: AuthorizeEndpointDeps) {
  return async function consentDecision(ctx: Context): Promise<void> {
    const request = authorization(ctx);
    if (!isThirdParty(request.client)) throw new OAuthError('invalid_request', 'this app needs no consent');
    const signedIn = await deps.loginSessions.signedIn(readCookie(ctx, deps.cookies.login));
    if (!signedIn) return showLoginPage(ctx, deps, { status: 200 });
    const { user, sessionId } = signedIn;
    if (!csrfMatches(ctx, deps)) return showConsentPage(ctx, deps, 403, true);
    const decision = requestState(ctx).authorizeForm?.values.get('decision');
    const stamp = requestStamp(ctx, request.client.id);
    if (decision === 'allow') {
      await deps.consents.grant(user.id, consentSubject(request), stamp);
      return redirectWithCode(ctx, deps, user, sessionId);
    }
    if (decision === 'deny') {
      await deps.consents.deny(user.id, consentSubject(request), stamp);
      throw new OAuthError('access_denied', 'the user did not allow access');
    }
    throw new OAuthError('invalid_request', 'decision must be allow or deny');
  };
}
