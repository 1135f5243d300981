import type { Context } from 'koa';
import type { AuthorizationRequest, RawParams, RedirectTarget } from '../authorize/request.js';
import type { DpopBinding } from '../dpop/binding.js';
import type { RequestFacts } from '../facts/request_facts.js';
import type { GrantHandler } from '../grants/types.js';
import type { PresentedToken } from './bearer.js';
import type { AuthenticatedClient } from './client_auth.js';

/**
 * Everything one request carries from the step that learns it to the steps that use it: the one
 * per-request namespace. Koa gives every request a fresh `ctx.state` object; this is its type.
 * Every field is optional because a step may not have run (a route without client authentication,
 * the ops listener without the front steps, the bench's stack without one step). A field is set
 * once, by the step named on it, and only read after that step.
 *
 * Koa types `ctx.state` as `any`-extended, so a misspelt field would compile: read and write it
 * only through `requestState(ctx)` (test/http/request_state.test.ts keeps it so).
 */
export interface RequestState {
  /**
   * Front step requestLog (http/request_log.ts): the caller's X-Request-Id when well-formed,
   * otherwise a fresh UUID. Echoed on the answer, logged, and stamped on audit facts
   * (docs/monitoring.md).
   */
  requestId?: string;
  /**
   * Front step clientIp (http/client_ip.ts): the client's address under TRUST_PROXY, resolved once
   * from the socket and X-Forwarded-For. Rate limits, the request log and audit facts use it; Koa's
   * `ctx.ip` is set to the same value.
   */
  clientIp?: string;
  /**
   * authenticateClient (http/client_auth.ts), at /token, /revoke, /introspect and the admin API:
   * the client that proved its identity and how (RFC 6749 §2.3).
   */
  client?: AuthenticatedClient;
  /**
   * requireBearer (http/bearer.ts), at the resource endpoints: the access token presented, its
   * verified claims and its scheme (RFC 6750 Bearer or RFC 9449 §7 DPoP).
   */
  token?: PresentedToken;
  /** checkDpopProof (dpop/token_proof.ts), at /token: the key a valid proof binds the token to (RFC 9449 §5). */
  dpop?: DpopBinding;
  /** checkGrant (endpoints/token.ts), at /token: the handler of the request's grant_type. */
  grant?: GrantHandler;
  /**
   * readAuthorizationRequest (endpoints/authorize.ts): the client and redirect URI once both are
   * known good. From then on errors are redirected to the client (RFC 6749 §4.1.2.1).
   */
  authorizeTarget?: RedirectTarget;
  /** readAuthorizationRequest: the whole validated authorization request (RFC 6749 §4.1.1). */
  authorization?: AuthorizationRequest;
  /** readAuthorizationRequest, on POST /authorize: the login or consent form as posted. */
  authorizeForm?: RawParams;
  /**
   * Front step requestFacts (facts/request_writer.ts): the facts without a transaction that this
   * request raised, written as one audit insert before the answer (docs/audit.md).
   */
  requestFacts?: RequestFacts;
}

/** The request's namespace (see RequestState): the one typed view of `ctx.state`. */
export const requestState = (ctx: Context): RequestState => ctx.state as RequestState;
