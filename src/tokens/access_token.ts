import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { KeyRing } from '../keys/keyring.js';
import type { Denylist } from '../stores/types.js';
import { type Compact, isFastAlg, signCompact, verifyCompact } from './compact_jws.js';
import { sha256 } from './secrets.js';
import { VerifiedTokenCache } from './verified_cache.js';

/** RFC 9068 §2.1: the media type that marks a JWT as an OAuth access token. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** docs/sessions.md: verifiers allow at most 1 s of clock tolerance. */
export const CLOCK_TOLERANCE_S = 1;

export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  client_id: string;
  scope?: string;
  username?: string;
  roles?: string[];
  sid?: string;
  /** RFC 9449 §6.1: the DPoP key the token is bound to (RFC 7638 thumbprint). */
  cnf?: { jkt: string };
}

export interface MintInput {
  subject: string;
  clientId: string;
  audience: string | string[];
  scope: string;
  ttl: number;
  user?: { username: string; roles: string[] };
  sid?: string;
  /** Bind the token to this DPoP key (`cnf.jkt`, RFC 9449 §6.1). */
  jkt?: string;
}

export interface MintedAccessToken {
  token: string;
  claims: AccessTokenClaims;
  kid: string;
}

export class AccessTokenMinter {
  constructor(
    private readonly keys: KeyRing,
    private readonly issuer: string,
    private readonly now: () => number,
  ) {}

  async mint(input: MintInput): Promise<MintedAccessToken> {
    const { signer } = this.keys.current();
    const iat = Math.floor(this.now() / 1000);
    const claims: AccessTokenClaims = {
      iss: this.issuer,
      sub: input.subject,
      aud: input.audience,
      exp: iat + input.ttl,
      iat,
      nbf: iat,
      jti: randomUUID(),
      client_id: input.clientId,
      ...(input.scope ? { scope: input.scope } : {}),
      ...(input.user ? { username: input.user.username, roles: input.user.roles } : {}),
      ...(input.sid ? { sid: input.sid } : {}),
      ...(input.jkt ? { cnf: { jkt: input.jkt } } : {}),
    };
    const header = { alg: signer.alg, kid: signer.kid, typ: ACCESS_TOKEN_TYP };
    // ES256 and EdDSA through node:crypto (tokens/compact_jws.ts); any other alg through jose.
    const token = isFastAlg(header.alg)
      ? signCompact({ ...header, alg: header.alg }, claims, signer.key)
      : await new SignJWT(claims).setProtectedHeader(header).sign(signer.key);
    return { token, claims, kid: signer.kid };
  }
}

/** Why a token was refused: logged and counted, never sent beyond `invalid_token`. */
export type TokenRejection =
  | 'malformed'
  | 'unknown_key'
  | 'bad_header'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'claims'
  /** Valid, but its aud names none of the audiences the caller serves (RFC 9068 §4). */
  | 'wrong_audience'
  | 'revoked';

export class TokenRejected extends Error {
  constructor(readonly reason: TokenRejection) {
    super(`access token rejected: ${reason}`);
    this.name = 'TokenRejected';
  }
}

// Headers that would let a token choose its own verification key (RFC 8725 §3.10); never honoured.
const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'crit'];

export interface VerifyOptions {
  /** When set, the token's aud must include one of these. */
  audiences?: readonly string[];
}

/**
 * Verifies Tessera-issued access tokens: published kid only, the alg of that key only (so never
 * `none` or HS*), typ at+jwt, issuer, exp/nbf with 1 s tolerance, required claims, then denylist.
 */
export class AccessTokenVerifier {
  /** Signature and claim checks already passed; see verified_cache.ts for what it may answer. */
  readonly verified: VerifiedTokenCache;

  constructor(
    private readonly keys: KeyRing,
    private readonly issuer: string,
    private readonly denylist: Denylist,
    private readonly now: () => number,
    /** A disabled client's tokens stop working (docs/sessions.md); see stores/cached_clients.ts. */
    private readonly clientActive?: (clientId: string) => Promise<boolean>,
    cache: VerifiedTokenCache = new VerifiedTokenCache(),
  ) {
    this.verified = cache;
  }

  /**
   * A token for Tessera's own endpoints (/me, /logout, /admin/*): its `aud` must include the
   * ISSUER (RFC 9068 §4), so a resource server holding a user's token for its API cannot use it
   * to act on Tessera (end the session, call the admin API).
   */
  verifyForIssuer(token: string): Promise<AccessTokenClaims> {
    return this.verify(token, { audiences: [this.issuer] });
  }

  async verify(token: string, options: VerifyOptions = {}): Promise<AccessTokenClaims> {
    const claims = await this.verifySignature(token, options);
    if (await this.denylist.isRevoked(claims.jti, claims.sid)) throw new TokenRejected('revoked');
    if (this.clientActive && !(await this.clientActive(claims.client_id))) throw new TokenRejected('revoked');
    return claims;
  }

  /** Signature and claims only, without the denylist (used by /revoke to learn jti/exp). */
  async verifySignature(token: string, options: VerifyOptions = {}): Promise<AccessTokenClaims> {
    if (token.length > 8192 || token.split('.').length !== 3) throw new TokenRejected('malformed');
    const digest = sha256(token);
    const keys = this.keys.current().verificationKeys;
    const claims =
      this.verified.get(digest, this.now(), (kid) => keys.get(kid)?.key, CLOCK_TOLERANCE_S) ??
      (await this.verifyJws(token, digest));
    // RFC 7519 §4.1.3: the caller must be one of the audiences (checked per call, not cached).
    if (options.audiences) {
      const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
      if (!Array.isArray(aud) || !aud.some((a) => options.audiences?.includes(a))) {
        throw new TokenRejected('wrong_audience');
      }
    }
    return claims;
  }

  private async verifyJws(token: string, digest: string): Promise<AccessTokenClaims> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenRejected('malformed');
    }
    if (FORBIDDEN_HEADERS.some((h) => h in header)) throw new TokenRejected('bad_header');
    const key =
      typeof header.kid === 'string' ? this.keys.current().verificationKeys.get(header.kid) : undefined;
    if (!key) throw new TokenRejected('unknown_key');
    if (header.alg !== key.alg) throw new TokenRejected('bad_header');
    if (isFastAlg(key.alg)) {
      const checked = verifyCompact(token, key.alg, key.key);
      if (typeof checked === 'string') throw new TokenRejected(checked);
      const payload = checkClaims(checked, this.issuer, Math.floor(this.now() / 1000));
      return this.verified.set(digest, payload, key.kid, key.key);
    }
    try {
      const { payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer: this.issuer,
        typ: ACCESS_TOKEN_TYP,
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
      });
      if (typeof payload.jti !== 'string' || typeof payload.client_id !== 'string')
        throw new TokenRejected('claims');
      // jose checks nbf but not a future iat (only with maxTokenAge): a token "issued" later than
      // now is refused like one not yet valid, with the same tolerance.
      if ((payload.iat as number) > Math.floor(this.now() / 1000) + CLOCK_TOLERANCE_S)
        throw new TokenRejected('not_yet_valid');
      if (payload.sid !== undefined && typeof payload.sid !== 'string') throw new TokenRejected('claims');
      if (payload.cnf !== undefined && typeof (payload.cnf as { jkt?: unknown } | null)?.jkt !== 'string')
        throw new TokenRejected('claims');
      return this.verified.set(digest, payload as AccessTokenClaims, key.kid, key.key);
    } catch (err) {
      if (err instanceof TokenRejected) throw err;
      if (err instanceof errors.JWTExpired) throw new TokenRejected('expired');
      if (err instanceof errors.JWSSignatureVerificationFailed) throw new TokenRejected('bad_signature');
      if (err instanceof errors.JWTClaimValidationFailed) {
        throw new TokenRejected(err.claim === 'nbf' || err.claim === 'iat' ? 'not_yet_valid' : 'claims');
      }
      throw new TokenRejected('malformed');
    }
  }
}

const REQUIRED_CLAIMS = ['sub', 'aud', 'exp', 'iat', 'jti', 'client_id'] as const;
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The claim checks of the node:crypto path, in jose's order and with jose's verdicts (what
 * jwtVerify does with the options of verifyJws above): typ at+jwt (RFC 9068 §2.1), the required
 * claims, iss, iat/nbf/exp numbers, nbf and exp with CLOCK_TOLERANCE_S, then Tessera's own checks
 * (string jti/client_id/sid, cnf.jkt, no iat in the future). test/tokens/compact_jws.test.ts
 * holds both paths to the same answers.
 */
export function checkClaims({ header, payload }: Compact, issuer: string, now: number): AccessTokenClaims {
  const typ =
    typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
  if (typ !== ACCESS_TOKEN_TYP) throw new TokenRejected('claims');
  for (const claim of REQUIRED_CLAIMS) {
    if (!(claim in payload)) throw new TokenRejected(claim === 'iat' ? 'not_yet_valid' : 'claims');
  }
  if (payload.iss !== issuer) throw new TokenRejected('claims');
  if (!isNumber(payload.iat)) throw new TokenRejected('not_yet_valid');
  if (payload.nbf !== undefined) {
    if (!isNumber(payload.nbf) || payload.nbf > now + CLOCK_TOLERANCE_S)
      throw new TokenRejected('not_yet_valid');
  }
  if (!isNumber(payload.exp)) throw new TokenRejected('claims');
  if (payload.exp <= now - CLOCK_TOLERANCE_S) throw new TokenRejected('expired');
  if (typeof payload.jti !== 'string' || typeof payload.client_id !== 'string')
    throw new TokenRejected('claims');
  if (payload.iat > now + CLOCK_TOLERANCE_S) throw new TokenRejected('not_yet_valid');
  if (payload.sid !== undefined && typeof payload.sid !== 'string') throw new TokenRejected('claims');
  if (payload.cnf !== undefined && typeof (payload.cnf as { jkt?: unknown } | null)?.jkt !== 'string')
    throw new TokenRejected('claims');
  return payload as unknown as AccessTokenClaims;
}
