import { EventEmitter } from 'node:events';

/**
 * Domain events. One module emits them (src/facts/publisher.ts: the events of security facts, and
 * operational signals through `emitSignal`); logging and metrics subscribe (src/observability.ts).
 * Payloads carry ids (client, user, family, kid, jti), never token or secret values.
 */
export interface TesseraEvents {
  'token.issued': [{ grantType: string; clientId: string; sub: string; kid: string; sid?: string }];
  'login.failed': [{ clientId: string; reason: 'unknown_user' | 'bad_password' | 'disabled' }];
  'login.locked': [{ clientId: string }];
  'client.auth_failed': [{ clientId: string | undefined; reason: string }];
  'token.rejected': [{ reason: string }];
  /** An /introspect answer; `reason` (inactive only) is for the operator, never the caller. */
  'introspection.answered': [{ clientId: string; active: boolean; reason?: string }];
  'request.error': [{ error: string; status: number; detail?: string; route: string }];
  'server.error': [{ err: unknown; route: string }];
  'refresh.rotated': [{ clientId: string; familyId: string }];
  'refresh.reuse_detected': [{ clientId: string; familyId: string }];
  /** An authorization code presented after it was used (RFC 6749 §4.1.2): its session is revoked. */
  'code.reuse_detected': [{ clientId: string; familyId: string | undefined }];
  /** A right password: the password grant or the login page of /authorize (a fact of src/facts/facts.ts). */
  'login.succeeded': [{ clientId: string; userId: string; method: 'password' | 'authorization_code' }];
  'refresh.leeway_used': [{ clientId: string; familyId: string }];
  'session.revoked': [{ familyId: string; reason: string }];
  'token.revoked': [{ clientId: string; kind: 'access' | 'refresh'; id: string }];
  'key.rotated': [{ activeKid: string; nextKid: string; forced: boolean }];
  'key.revoked': [{ kid: string }];
  'keys.reloaded': [{ activeKid: string; reason: string }];
  'ratelimit.exceeded': [{ limiter: string }];
  /**
   * A DPoP proof checked (RFC 9449 §4.3) at /token or a resource: its outcome, and for a refused
   * proof why (src/dpop/proof.ts ProofRejection). Never the proof, its key or its jti.
   */
  'dpop.proof_checked': [{ result: DpopProofResult; reason?: string }];
  'dependency.degraded': [{ dependency: 'redis' | 'database'; err: unknown }];
  'dependency.recovered': [{ dependency: 'redis' | 'database' }];
}

/**
 * The events that are operational signals, not security facts: raised only through `emitSignal`
 * (src/facts/publisher.ts); every other event is a fact's, raised only by the publisher.
 */
export type OperationalSignal =
  | 'client.auth_failed'
  | 'token.rejected'
  | 'introspection.answered'
  | 'request.error'
  | 'server.error'
  | 'keys.reloaded'
  | 'ratelimit.exceeded'
  | 'dpop.proof_checked'
  | 'dependency.degraded'
  | 'dependency.recovered';

/** The fixed outcomes of a DPoP proof check: the label values of tessera_dpop_proofs_total. */
export type DpopProofResult = 'accepted' | 'rejected' | 'nonce_required' | 'replayed';

export class EventBus extends EventEmitter<TesseraEvents> {}
