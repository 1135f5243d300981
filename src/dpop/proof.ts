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
import type { DpopProofResult, EventBus } from '../events.js';
import { emitSignal } from '../facts/publisher.js';
import type { DpopNonces } from './nonce.js';
import type { ReplayCache } from './replay.js';

/** RFC 9449 §4.2: the `typ` of a proof. */
export const DPOP_PROOF_TYP = 'dpop+jwt';

/**
 * RFC 9449 §4.3 check 5: asymmetric algorithms only (never `none`, never HS*), the ones jose
 * verifies; advertised as `dpop_signing_alg_values_supported`.
 */
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

/**
 * A proof is a few hundred bytes (an RSA-4096 one about 2 KiB); anything larger is refused before
 * it is parsed, so a client cannot make the server decode and verify megabytes per request.
 */
export const MAX_PROOF_LENGTH = 4096;

/**
 * RFC 9449 §11.1: how far `iat` may be from the server clock (s). A minute either way tolerates
 * ordinary client clock drift; the replay cache keeps each `jti` for as long as its proof is
 * acceptable. docs/dpop.md.
 */
export const IAT_WINDOW_S = 60;
/** The same 1 s tolerance as every other time check (docs/sessions.md). */
const CLOCK_TOLERANCE_S = 1;
/** A `jti` is at least 96 bits of randomness (RFC 9449 §4.2 suggests 96); bound it from above. */
const MAX_JTI_LENGTH = 256;

// RFC 9449 §4.3 check 6: the header jwk must not hold a private key (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const ASYMMETRIC_KTY = ['EC', 'OKP', 'RSA'];

/** Why a proof was refused: logged and counted, never more than the error code is sent. */
export type ProofRejection =
  | 'missing'
  | 'multiple'
  | 'too_large'
  | 'malformed'
  | 'typ'
  | 'alg'
  | 'jwk'
  | 'signature'
  | 'claims'
  | 'htm'
  | 'htu'
  | 'iat'
  | 'ath'
  | 'nonce'
  | 'replay'
  | 'key_mismatch';

export class ProofRejected extends Error {
  constructor(readonly reason: ProofRejection) {
    super(`DPoP proof rejected: ${reason}`);
    this.name = 'ProofRejected';
  }
}

/** Imported keys and thumbprints of recently seen proof keys: a client signs every proof with one key. */
const KEY_CACHE_SIZE = 1000;

/** What the proof must match: this request, and at a resource, the access token it comes with. */
export interface ProofRequest {
  /** Every `DPoP` header line of the request (Node's `headersDistinct`); exactly one is allowed. */
  headers: readonly string[] | undefined;
  /** The HTTP method of this request. */
  method: string;
  /** This endpoint's URI as built from the ISSUER (never from Host headers), without query. */
  uri: string;
  /** At a protected resource: the access token, whose hash `ath` must be (RFC 9449 §4.3 check 11). */
  accessToken?: string;
  /** The server demands its nonce (DPOP_NONCE=true at /token, RFC 9449 §8). */
  requireNonce?: boolean;
  /** At a protected resource: the token's `cnf.jkt`, which the proof's key must have (RFC 9449 §7). */
  expectedJkt?: string;
}

export interface VerifiedProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key: the `cnf.jkt` of bound tokens. */
  jkt: string;
}

export interface ProofVerifierDeps {
  replay: ReplayCache;
  nonces: DpopNonces;
  now: () => number;
  /** Every outcome is counted (tessera_dpop_proofs_total, docs/monitoring.md). */
  events: EventBus;
}

/** The metric's small fixed label set: a nonce miss and a replay are told apart from the rest. */
const resultOf = (reason: ProofRejection): DpopProofResult =>
  reason === 'nonce' ? 'nonce_required' : reason === 'replay' ? 'replayed' : 'rejected';

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the ASCII access token. */
export const accessTokenHash = (token: string) =>
  createHash('sha256').update(token, 'ascii').digest('base64url');

/** RFC 9449 §4.3 check 9: compared without query and fragment, after URL normalisation. */
function normalizedUri(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function parseHeader(token: string) {
  try {
    return decodeProtectedHeader(token);
  } catch {
    throw new ProofRejected('malformed');
  }
}

function publicJwk(jwk: unknown): JWK {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new ProofRejected('jwk');
  const key = jwk as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((m) => m in key)) throw new ProofRejected('jwk');
  if (typeof key.kty !== 'string' || !ASYMMETRIC_KTY.includes(key.kty)) throw new ProofRejected('jwk');
  return key as JWK;
}

/**
 * The one check of DPoP proofs (RFC 9449 §4.3), for /token and for Tessera's own resources. The
 * steps run cheapest first, and the replay cache is written last, so a proof refused for any
 * other reason does not use up its `jti`.
 */
export class DpopProofVerifier {
  private readonly keys = new Map<string, { key: CryptoKey; jkt: string }>();

  constructor(private readonly deps: ProofVerifierDeps) {}

  async verify(request: ProofRequest): Promise<VerifiedProof> {
    try {
      const verified = await this.check(request);
      emitSignal(this.deps.events, 'dpop.proof_checked', { result: 'accepted' });
      return verified;
    } catch (err) {
      if (err instanceof ProofRejected)
        emitSignal(this.deps.events, 'dpop.proof_checked', {
          result: resultOf(err.reason),
          reason: err.reason,
        });
      throw err;
    }
  }

  private async check(request: ProofRequest): Promise<VerifiedProof> {
    const proof = this.single(request.headers);
    const header = parseHeader(proof);
    if (header.typ !== DPOP_PROOF_TYP) throw new ProofRejected('typ');
    if (typeof header.alg !== 'string' || !(DPOP_ALGS as readonly string[]).includes(header.alg))
      throw new ProofRejected('alg');
    const { key, jkt } = await this.importKey(publicJwk(header.jwk), header.alg);
    const payload = await this.verifySignature(proof, key, header.alg);
    const claims = this.checkClaims(payload, request);
    if (request.expectedJkt !== undefined && request.expectedJkt !== jkt)
      throw new ProofRejected('key_mismatch');
    if (request.requireNonce && !this.deps.nonces.accepts(claims.nonce)) throw new ProofRejected('nonce');
    // RFC 9449 §11.1: each jti once while its iat is acceptable; keyed by the key too, so one
    // client's jti can never block another's.
    const until = (claims.iat + IAT_WINDOW_S + CLOCK_TOLERANCE_S) * 1000;
    const first = await this.deps.replay.claim(
      `${jkt}:${claims.jti}`,
      Math.max(1000, until - this.deps.now()),
    );
    if (!first) throw new ProofRejected('replay');
    return { jkt };
  }

  private single(headers: readonly string[] | undefined): string {
    if (!headers || headers.length === 0) throw new ProofRejected('missing');
    // RFC 9449 §4.3 check 1: exactly one DPoP header, holding one JWT (a comma means two joined).
    if (headers.length !== 1) throw new ProofRejected('multiple');
    const proof = headers[0] as string;
    if (proof.length > MAX_PROOF_LENGTH) throw new ProofRejected('too_large');
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(proof)) throw new ProofRejected('malformed');
    return proof;
  }

  /**
   * The header jwk as a public CryptoKey for `alg`, and its RFC 7638 thumbprint. Cached by the
   * exact jwk and alg (bounded, oldest out first): importing and hashing cost more than verifying.
   */
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
      throw new ProofRejected('jwk');
    }
    if (key instanceof Uint8Array || key.type !== 'public') throw new ProofRejected('jwk');
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
        currentDate: new Date(this.deps.now()),
        clockTolerance: CLOCK_TOLERANCE_S,
      });
      return payload;
    } catch (err) {
      if (err instanceof errors.JWSSignatureVerificationFailed) throw new ProofRejected('signature');
      if (err instanceof errors.JOSEError) throw new ProofRejected('claims');
      throw new ProofRejected('malformed');
    }
  }

  private checkClaims(payload: JWTPayload, request: ProofRequest) {
    const { jti, htm, htu, iat, ath, nonce } = payload as Record<string, unknown>;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH)
      throw new ProofRejected('claims');
    if (htm !== request.method) throw new ProofRejected('htm');
    const expected = normalizedUri(request.uri);
    if (typeof htu !== 'string' || expected === undefined || normalizedUri(htu) !== expected)
      throw new ProofRejected('htu');
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new ProofRejected('iat');
    const now = this.deps.now() / 1000;
    if (Math.abs(now - iat) > IAT_WINDOW_S + CLOCK_TOLERANCE_S) throw new ProofRejected('iat');
    if (request.accessToken !== undefined && ath !== accessTokenHash(request.accessToken))
      throw new ProofRejected('ath');
    if (nonce !== undefined && typeof nonce !== 'string') throw new ProofRejected('claims');
    return { jti, iat, nonce: nonce as string | undefined };
  }
}
