/**
 * The one error hierarchy. Handlers throw OAuthError; only http/error_handler.ts renders it.
 * `description` is public and fixed per failure kind (never echoes secrets or tokens);
 * `detail` is private, logged and never sent.
 */
export type OAuthErrorCode =
  // RFC 6749 §5.2
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  // RFC 6750 §3.1
  | 'invalid_token'
  | 'insufficient_scope'
  // RFC 7009 §2.2.1
  | 'unsupported_token_type'
  // RFC 8707 §2
  | 'invalid_target'
  // RFC 6749 §4.1.2.1 (authorization endpoint), the last two reused for 5xx/429 answers
  | 'unsupported_response_type'
  | 'server_error'
  | 'temporarily_unavailable'
  // RFC 9449 §5, §7.1, §8 (DPoP)
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  // OpenID Connect Core 1.0 §3.1.2.6, answered to prompt=none without a login session
  | 'login_required'
  // OpenID Connect Core 1.0 §3.1.2.6, answered to prompt=none without a remembered consent
  | 'consent_required'
  // RFC 7591 §3.2.2 (dynamic client registration)
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  // Tessera-specific
  | 'rate_limited'
  | 'rotation_refused'
  | 'not_found'
  | 'access_denied';

const DEFAULT_STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  unsupported_token_type: 400,
  invalid_target: 400,
  unsupported_response_type: 400,
  login_required: 400,
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  consent_required: 400,
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
  server_error: 500,
  temporarily_unavailable: 503,
  rate_limited: 429,
  rotation_refused: 409,
  not_found: 404,
  access_denied: 403,
};

export interface OAuthErrorOptions {
  status?: number;
  /** Private reason for logs. */
  detail?: string;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class OAuthError extends Error {
  readonly status: number;
  readonly detail: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    options: OAuthErrorOptions = {},
  ) {
    super(`${error}: ${description}`, { cause: options.cause });
    this.name = 'OAuthError';
    this.status = options.status ?? DEFAULT_STATUS[error];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

export const invalidRequest = (description: string, detail?: string) =>
  new OAuthError('invalid_request', description, { detail });

/** RFC 6749 §5.2: one fixed public description for every failed client authentication. */
export const invalidClient = (detail: string, usedBasic: boolean) =>
  new OAuthError('invalid_client', 'client authentication failed', {
    detail,
    headers: usedBasic ? { 'WWW-Authenticate': 'Basic realm="tessera", charset="UTF-8"' } : {},
  });

/** One public description for every grant failure so callers cannot probe which part was wrong. */
export const invalidGrant = (detail: string, description = 'the provided grant is invalid') =>
  new OAuthError('invalid_grant', description, { detail });

/** The backends a store talks to; named in 503 logs and the dependency metrics. */
export type Dependency = 'database' | 'redis';

/**
 * Storage-level failures, raised at the store boundary (src/stores/backend_errors.ts) and mapped
 * to protocol errors in one function (`fromStoreError` in src/http/error_handler.ts).
 * `unavailable` means the named dependency is down: the client gets 503 and may retry.
 * `conflict` means the transaction lost a race with a concurrent one.
 * `exists` means the row's key was taken, by an earlier or a concurrent insert.
 * Each flow maps them once (the refresh flow: a lost race is `invalid_grant`; docs/sessions.md).
 */
export class StoreError extends Error {
  readonly dependency: Dependency | undefined;

  constructor(
    readonly code: 'unavailable' | 'conflict' | 'exists',
    message: string,
    options?: { cause?: unknown; dependency?: Dependency },
  ) {
    super(message, options);
    this.name = 'StoreError';
    this.dependency = options?.dependency;
  }
}
