import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/**
 * Server-rendered pages of /authorize (login and error). Templates live beside this module (the
 * build copies them to dist/), are compiled once and escape every value by default.
 */
const TEMPLATES = fileURLToPath(new URL('./templates/', import.meta.url));
const CSS = readFileSync(`${TEMPLATES}style.css`, 'utf8');
/** The one inline style block is allowed by its hash, so the policy needs no 'unsafe-inline'. */
const STYLE_SOURCE = `'sha256-${createHash('sha256').update(CSS, 'utf8').digest('base64')}'`;

const eta = new Eta({ views: TEMPLATES, cache: true, autoEscape: true, autoTrim: [false, 'nl'] });

export interface LoginPage {
  title: string;
  clientName: string;
  /** `action` of the form: the authorization endpoint itself. */
  action: string;
  /** The authorization request and the CSRF token, posted back unchanged. */
  hidden: [string, string][];
  username: string;
  message: string | undefined;
}

export interface ErrorPage {
  title: string;
  heading: string;
  message: string;
  error: string;
}

/** The consent page of a third-party client (docs/mcp.md, "Consent"). */
export interface ConsentPage {
  title: string;
  clientName: string;
  /** The host of a metadata-document client_id, or "registered dynamically". */
  clientOrigin: string;
  redirectHost: string;
  /** The answer goes to a loopback address: a program on the user's own machine. */
  loopback: boolean;
  scopes: string[];
  /** What the tokens are for: the `resource` asked for, or this server. */
  resource: string;
  action: string;
  hidden: [string, string][];
}

export function renderConsentPage(page: ConsentPage): string {
  return eta.render('./consent', { ...page, css: CSS });
}

export function renderLoginPage(page: LoginPage): string {
  return eta.render('./login', { ...page, css: CSS });
}

export function renderErrorPage(page: ErrorPage): string {
  return eta.render('./error', { ...page, css: CSS });
}

/**
 * A strict Content-Security-Policy: no script at all, the one hashed style block, no framing
 * (clickjacking, RFC 6749 §10.13), and forms that may only post to Tessera. `formTargets` adds
 * where the login form's answer redirects: browsers apply form-action to that redirect too.
 */
export function contentSecurityPolicy(formTargets: readonly string[] = []): string {
  const formAction = ["'self'", ...formTargets].join(' ');
  return [
    "default-src 'none'",
    `style-src ${STYLE_SOURCE}`,
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** The CSP source of a redirect URI: its origin, or its scheme for private-use schemes (RFC 8252 §7.1). */
export function formTarget(redirectUri: string): string {
  const url = new URL(redirectUri);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol;
}
