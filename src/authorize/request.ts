import { redirectUriMatches } from '../accounts/browser_registration.js';
import { OAuthError } from '../errors.js';
import { resolveAudience, resolveScope, userScopes } from '../grants/scope.js';
import type { ClientRecord, ClientStore } from '../stores/types.js';
import { isThirdParty, thirdPartyDefaultAudience } from '../thirdparty/limits.js';
import { isS256Challenge, PKCE_METHODS } from './pkce.js';

/** The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2). */
export const AUTHORIZATION_PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'code_challenge',
  'code_challenge_method',
  'resource',
  'prompt',
  'dpop_jkt',
] as const;

/** RFC 9449 §10: `dpop_jkt` is an RFC 7638 SHA-256 thumbprint, 32 bytes in base64url. */
const JKT = /^[A-Za-z0-9_-]{43}$/;

/**
 * A request whose client or redirect URI cannot be trusted: RFC 6749 §4.1.2.1 forbids redirecting
 * it anywhere, so the user sees Tessera's error page instead (never an open redirector).
 */
export class UntrustedRedirect extends OAuthError {
  constructor(error: 'invalid_request' | 'invalid_client', description: string) {
    super(error, description, { status: 400 });
    this.name = 'UntrustedRedirect';
  }
}

/** Where an answer may be sent once client and redirect URI are known good. */
export interface RedirectTarget {
  redirectUri: string;
  /** Echoed exactly as received (RFC 6749 §4.1.2). */
  state: string | undefined;
  client: ClientRecord;
}

export interface AuthorizationRequest extends RedirectTarget {
  scope: string;
  audience: string[];
  codeChallenge: string;
  /** RFC 9449 §10: the thumbprint of the DPoP key that alone may redeem the code. */
  dpopJkt: string | undefined;
  prompt: 'login' | 'none' | 'consent' | undefined;
  /** The request as received (known parameters only), posted back by the login form. */
  original: [string, string][];
}

/** Query or form parameters of /authorize: one value per name; repeated names are remembered. */
export interface RawParams {
  values: ReadonlyMap<string, string>;
  repeated: ReadonlySet<string>;
}

const fail = (description: string) => new OAuthError('invalid_request', description);

/**
 * RFC 6749 §4.1.2.1, first step: the client and its exact redirect URI (RFC 9700 §2.1; a loopback
 * IP URI with any port, RFC 8252 §7.3). Until both
 * are known good nothing may redirect; every later error goes back to the client.
 */
export async function resolveTarget(
  raw: RawParams,
  clients: Pick<ClientStore, 'findById'>,
): Promise<RedirectTarget> {
  for (const name of ['client_id', 'redirect_uri'])
    if (raw.repeated.has(name)) throw new UntrustedRedirect('invalid_request', `${name} is repeated`);
  const clientId = raw.values.get('client_id');
  if (clientId === undefined) throw new UntrustedRedirect('invalid_request', 'client_id is missing');
  const client = clientId.length <= 256 ? await findClient(clients, clientId) : undefined;
  if (!client || client.disabledAt)
    throw new UntrustedRedirect('invalid_client', 'this app is not registered');
  const presented = raw.values.get('redirect_uri');
  let redirectUri: string;
  if (presented === undefined) {
    // RFC 6749 §3.1.2.3: may be omitted only when it is unambiguous.
    if (client.redirectUris.length !== 1)
      throw new UntrustedRedirect('invalid_request', 'redirect_uri is missing');
    redirectUri = client.redirectUris[0] as string;
  } else if (client.redirectUris.some((registered) => redirectUriMatches(registered, presented))) {
    redirectUri = presented;
  } else {
    throw new UntrustedRedirect('invalid_request', 'redirect_uri is not registered for this app');
  }
  return { client, redirectUri, state: raw.repeated.has('state') ? undefined : raw.values.get('state') };
}

/**
 * A metadata-document client that cannot be fetched or is invalid (docs/mcp.md) is an unknown
 * client here: the error page, never a redirect to a URI nobody verified.
 */
async function findClient(clients: Pick<ClientStore, 'findById'>, clientId: string) {
  try {
    return await clients.findById(clientId);
  } catch (err) {
    if (err instanceof OAuthError && err.error === 'invalid_client')
      throw new UntrustedRedirect('invalid_client', err.description);
    throw err;
  }
}

function checkPkce(values: ReadonlyMap<string, string>): string {
  const challenge = values.get('code_challenge');
  const method = values.get('code_challenge_method');
  // RFC 7636 §4.4.1: PKCE is required here, so a missing challenge is invalid_request.
  if (challenge === undefined) throw fail('code_challenge is required (PKCE with S256)');
  // An omitted method means `plain` (RFC 7636 §4.3), which RFC 9700 §2.1.1 says not to accept.
  if (method === undefined || !(PKCE_METHODS as readonly string[]).includes(method))
    throw fail('code_challenge_method must be S256');
  if (!isS256Challenge(challenge)) throw fail('code_challenge is not a base64url SHA-256 digest');
  return challenge;
}

function checkDpopJkt(value: string | undefined): string | undefined {
  if (value !== undefined && !JKT.test(value))
    throw fail('dpop_jkt must be the base64url SHA-256 thumbprint of a JWK (RFC 7638)');
  return value;
}

function checkPrompt(value: string | undefined): AuthorizationRequest['prompt'] {
  if (value === undefined || value === 'login' || value === 'none' || value === 'consent') return value;
  throw fail('prompt must be login, none or consent');
}

/** RFC 6749 §4.1.1, second step: everything else, answered by redirect when wrong. */
/**
 * RFC 8707 §2: the audience of the code. A third-party client without `resource` gets the ISSUER
 * only (docs/mcp.md), never every API it could ask for.
 */
function requestAudience(resource: string | undefined, client: ClientRecord, issuer: string) {
  if (resource === undefined && isThirdParty(client)) return thirdPartyDefaultAudience(issuer);
  const audience = resolveAudience(resource, client);
  return typeof audience === 'string' ? [audience] : audience;
}

export function validateRequest(
  raw: RawParams,
  target: RedirectTarget,
  issuer: string,
): AuthorizationRequest {
  const { values } = raw;
  const [repeated] = raw.repeated;
  // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
  if (repeated !== undefined) throw fail(`parameter "${repeated}" is repeated`);
  for (const [name, value] of values)
    if (value.includes('\0')) throw fail(`parameter "${name}" is malformed`);
  const responseType = values.get('response_type');
  if (responseType === undefined) throw fail('response_type is required');
  if (responseType !== 'code')
    throw new OAuthError('unsupported_response_type', 'only response_type=code is supported');
  if (!target.client.grantTypes.includes('authorization_code'))
    throw new OAuthError('unauthorized_client', 'this client may not use the authorization code flow');
  const codeChallenge = checkPkce(values);
  const dpopJkt = checkDpopJkt(values.get('dpop_jkt'));
  const prompt = checkPrompt(values.get('prompt'));
  const allowed = userScopes(target.client);
  const scope = resolveScope(values.get('scope'), allowed, allowed);
  const audience = requestAudience(values.get('resource'), target.client, issuer);
  // prompt=login and prompt=none are answered by this request; prompt=consent still applies
  // after the login form (docs/mcp.md), so only it travels on.
  const original = AUTHORIZATION_PARAMS.filter(
    (n) => values.has(n) && (n !== 'prompt' || prompt === 'consent'),
  ).map((n) => [n, values.get(n) as string] as [string, string]);
  return {
    ...target,
    scope,
    audience,
    codeChallenge,
    dpopJkt,
    prompt,
    original,
  };
}

/**
 * The redirect back to the client (RFC 6749 §4.1.2 and §4.1.2.1): the answer's parameters, the
 * `state` exactly as received, and `iss` (RFC 9207 §2) so the client can detect mix-up attacks.
 */
export function redirectBack(target: RedirectTarget, issuer: string, answer: Record<string, string>): string {
  const url = new URL(target.redirectUri);
  for (const [k, v] of Object.entries(answer)) url.searchParams.append(k, v);
  if (target.state !== undefined) url.searchParams.append('state', target.state);
  url.searchParams.append('iss', issuer);
  return url.toString();
}
