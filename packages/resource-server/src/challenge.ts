import type { Refusal } from './errors.js';

/** An answer to send: status, headers and a JSON body (RFC 6750 §3, RFC 9449 §7.1). */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
}

export interface ChallengeContext {
  realm: string;
  /** RFC 9728 §5.1: where a client finds this resource's metadata, on every 401 and 403. */
  resourceMetadata: string;
  /** RFC 9449 §7.1 `algs`, or undefined when DPoP is off. */
  dpopAlgs?: readonly string[];
}

const DESCRIPTIONS: Record<Exclude<Refusal['kind'], 'insufficient_scope'>, string> = {
  no_token: 'an access token is required',
  invalid_request: 'the Authorization header is malformed',
  invalid_token: 'the access token is invalid',
  invalid_dpop_proof: 'the DPoP proof is invalid',
  unavailable: 'token verification is temporarily unavailable',
};

/** The one place a refusal becomes an HTTP answer; the reason is never sent, only the code. */
export function answerFor(refusal: Refusal, c: ChallengeContext): Answer {
  const bearer = (extra = '') =>
    `Bearer realm="${c.realm}", resource_metadata="${c.resourceMetadata}"${extra}`;
  const dpop = (extra = '') => `DPoP algs="${(c.dpopAlgs ?? []).join(' ')}"${extra}`;
  const headers = (challenge: string): Record<string, string> => ({
    'WWW-Authenticate': challenge,
    'Cache-Control': 'no-store',
  });
  const error = (code: string, description: string) =>
    `, error="${code}", error_description="${description}"`;
  switch (refusal.kind) {
    case 'no_token':
      // RFC 6750 §3.1: no error code when the request carried no credentials; one challenge per scheme.
      return {
        status: 401,
        headers: headers(c.dpopAlgs ? `${bearer()}, ${dpop()}` : bearer()),
        body: { error: 'invalid_token', error_description: DESCRIPTIONS.no_token },
      };
    case 'invalid_request':
      return {
        status: 400,
        headers: headers(bearer(error('invalid_request', DESCRIPTIONS.invalid_request))),
        body: { error: 'invalid_request', error_description: DESCRIPTIONS.invalid_request },
      };
    case 'invalid_token': {
      const e = error('invalid_token', DESCRIPTIONS.invalid_token);
      const challenge =
        refusal.scheme === 'DPoP' ? dpop(`, resource_metadata="${c.resourceMetadata}"${e}`) : bearer(e);
      return {
        status: 401,
        headers: headers(challenge),
        body: { error: 'invalid_token', error_description: DESCRIPTIONS.invalid_token },
      };
    }
    case 'invalid_dpop_proof':
      return {
        status: 401,
        headers: headers(
          dpop(
            `, resource_metadata="${c.resourceMetadata}"${error('invalid_dpop_proof', DESCRIPTIONS.invalid_dpop_proof)}`,
          ),
        ),
        body: { error: 'invalid_dpop_proof', error_description: DESCRIPTIONS.invalid_dpop_proof },
      };
    case 'insufficient_scope': {
      const needed = refusal.scopes.join(' ');
      // The description is a quoted-string (RFC 9110 §5.6.4): no quotes inside it.
      const description = `the access token lacks a required scope: ${needed}`;
      const extra = `, error="insufficient_scope", scope="${needed}", error_description="${description}"`;
      return {
        status: 403,
        headers: headers(
          refusal.scheme === 'DPoP'
            ? dpop(`, resource_metadata="${c.resourceMetadata}"${extra}`)
            : bearer(extra),
        ),
        body: { error: 'insufficient_scope', error_description: description },
      };
    }
    case 'unavailable':
      return {
        status: 503,
        headers: { 'Retry-After': '5', 'Cache-Control': 'no-store' },
        body: { error: 'temporarily_unavailable', error_description: DESCRIPTIONS.unavailable },
      };
  }
}
