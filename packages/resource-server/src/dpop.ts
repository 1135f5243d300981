import { createHash } from 'node:crypto';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  decodeProtectedHeader,
  errors,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import { RequestRefused, unavailable } from './errors.js';
import { type ReplayCache, ReplayCacheFull } from './replay.js';

/**
 * RFC 9449 §7: a DPoP proof at a protected resource, checked as Tessera checks proofs at its own
 * resources (the same rules, kept in step by hand: this package depends on nothing of Tessera's).
 */

/** RFC 9449 §4.2: the `typ` of a proof. */
export const DPOP_PROOF_TYP = 'dpop+jwt';

/** RFC 9449 §4.3 check 5: asymmetric algorithms only, never `none` or HS*. */
export const DPOP_ALGS = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
] as const;

/** A proof is a few hundred bytes; anything larger is refused before it is parsed. */
const MAX_PROOF_LENGTH = 4096;
/** RFC 9449 §11.1: how far `iat` may be from this server's clock (s). */
export const IAT_WINDOW_S = 60;
const CLOCK_TOLERANCE_S = 1;
const MAX_JTI_LENGTH = 256;
// RFC 9449 §4.3 check 6: the header jwk must not hold a private key (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const ASYMMETRIC_KTY = ['EC', 'OKP', 'RSA'];
const KEY_CACHE_SIZE = 1000;

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the ASCII access token. */
export const accessTokenHash = (token: string) =>
  createHash('sha256').update(token, 'ascii').digest('base64url');

const refuse = (reason: string) => new RequestRefused({ kind: 'invalid_dpop_proof', reason });

/** RFC 9449 §4.3 check 9: compared without query and fragment, after URL normalisation. */
function normalizedUri(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export interface ProofCheck {
  /** Every `DPoP` header line of the request; exactly one is allowed (RFC 9449 §4.3 check 1). */
  headers: readonly string[];
  method: string;
  /** The request's URI under the resource's configured public URL (never the Host header). */
  uri: string;
  accessToken: string;
  /** The token's `cnf.jkt` (RFC 9449 §6.1), which the proof's key must have. */
  jkt: string;
}

export class DpopVerifier {
  private readonly keys = new Map<string, { key: CryptoKey; jkt: string }>();

  constructor(
    private readonly replay: ReplayCache,
    private readonly algorithms: readonly string[],
    private readonly now: () => number,
  ) {}

  async verify(check: ProofCheck): Promise<void> {
    if (check.headers.length === 0) throw refuse('missing');
    if (check.headers.length !== 1) throw refuse('multiple');
    const proof = check.headers[0] as string;
    if (proof.length > MAX_PROOF_LENGTH) throw refuse('too_large');
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(proof)) throw refuse('malformed');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(proof);
    } catch {
      throw refuse('malformed');
    }
    if (header.typ !== DPOP_PROOF_TYP) throw refuse('typ');
    if (typeof header.alg !== 'string' || !this.algorithms.includes(header.alg)) throw refuse('alg');
    const { key, jkt } = await this.importKey(publicJwk(header.jwk), header.alg);
    const payload = await this.verifySignature(proof, key, header.alg);
    const { jti, iat } = this.checkClaims(payload, check);
    // RFC 9449 §7 (and §6.1): the proof's key is the one the token is bound to.
    if (jkt !== check.jkt) throw refuse('key_mismatch');
    // RFC 9449 §11.1: each jti once while its iat is acceptable, keyed by the key so one client's
    // jti never blocks another's. Written last: a proof refused for another reason keeps its jti.
    const until = (iat + IAT_WINDOW_S + CLOCK_TOLERANCE_S) * 1000;
    let first: boolean;
    try {
      first = await this.replay.claim(`${jkt}:${jti}`, Math.max(1000, until - this.now()));
    } catch (err) {
      throw unavailable(err instanceof ReplayCacheFull ? 'replay cache full' : 'replay cache failed');
    }
    if (!first) throw refuse('replay');
  }

  private async importKey(jwk: JWK, alg: string): Promise<{ key: CryptoKey; jkt: string }> {
    const id = `${alg}:${JSON.stringify(jwk)}`;
    const cached = this.keys.get(id);
    if (cached) return cached;
    let key: Awaited<ReturnType<typeof importJWK>>;
    let jkt: string;
    try {
      key = await importJWK(jwk, alg);
      jkt = await calculateJwkThumbprint(jwk, 'sha256');
    } catch {
      throw refuse('jwk');
    }
    if (key instanceof Uint8Array || key.type !== 'public') throw refuse('jwk');
    const entry = { key, jkt };
    if (this.keys.size >= KEY_CACHE_SIZE) this.keys.delete(this.keys.keys().next().value as string);
    this.keys.set(id, entry);
    return entry;
  }

  private async verifySignature(proof: string, key: CryptoKey, alg: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(proof, key, {
        algorithms: [alg],
        typ: DPOP_PROOF_TYP,
        currentDate: new Date(this.now()),
        clockTolerance: CLOCK_TOLERANCE_S,
      });
      return payload;
    } catch (err) {
      if (err instanceof errors.JWSSignatureVerificationFailed) throw refuse('signature');
      throw refuse(err instanceof errors.JOSEError ? 'claims' : 'malformed');
    }
  }

  private checkClaims(payload: JWTPayload, check: ProofCheck) {
    const { jti, htm, htu, iat, ath } = payload as Record<string, unknown>;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) throw refuse('claims');
    if (htm !== check.method) throw refuse('htm');
    const expected = normalizedUri(check.uri);
    if (typeof htu !== 'string' || expected === undefined || normalizedUri(htu) !== expected)
      throw refuse('htu');
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw refuse('iat');
    if (Math.abs(this.now() / 1000 - iat) > IAT_WINDOW_S + CLOCK_TOLERANCE_S) throw refuse('iat');
    if (ath !== accessTokenHash(check.accessToken)) throw refuse('ath');
    return { jti, iat };
  }
}

function publicJwk(jwk: unknown): JWK {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw refuse('jwk');
  const key = jwk as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((m) => m in key)) throw refuse('jwk');
  if (typeof key.kty !== 'string' || !ASYMMETRIC_KTY.includes(key.kty)) throw refuse('jwk');
  return key as JWK;
}
