/** Authorization codes (RFC 6749 §4.1.2). */

/** An authorization code (RFC 6749 §4.1.2); the code itself is never stored, only its digest. */
export interface AuthorizationCodeRecord {
  clientId: string;
  userId: string;
  redirectUri: string;
  /** RFC 7636 S256 challenge the code_verifier must match. */
  codeChallenge: string;
  scope: string;
  audience: string[];
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  /** The session (refresh family) the redemption started; revoked if the code is presented again. */
  familyId: string | null;
  /** The login session of /authorize that issued the code; its family records it too. */
  loginSessionId: string | null;
  /** RFC 9449 §10 `dpop_jkt`: only a proof by the key with this thumbprint redeems the code. */
  dpopJkt: string | null;
}

export type NewAuthorizationCode = Omit<
  AuthorizationCodeRecord,
  'usedAt' | 'familyId' | 'loginSessionId' | 'dpopJkt'
> & {
  hash: string;
  loginSessionId?: string | null;
  dpopJkt?: string | null;
};

/** Outcome of redeeming a code: it is spent by this call, or it was spent before (a replay). */
export type RedeemOutcome =
  | { kind: 'redeemed'; code: AuthorizationCodeRecord }
  | { kind: 'replayed'; code: AuthorizationCodeRecord }
  | { kind: 'not_found' };

/** Single-use authorization codes (Postgres, shared by every instance). */
export interface AuthorizationCodeStore {
  create(code: NewAuthorizationCode): Promise<void>;
  findByHash(hash: string): Promise<AuthorizationCodeRecord | undefined>;
  /**
   * One conditional write: marks the code used and names the family it will start. A code already
   * used is not changed but marked replayed, and returned with the family it started.
   */
  redeem(hash: string, familyId: string, at: Date): Promise<RedeemOutcome>;
  /**
   * RFC 6749 §4.1.2: records that a used code was presented again (so a redemption still creating
   * its session sees it) and returns it with the family it started; undefined when it is gone.
   */
  markReplayed(hash: string, at: Date): Promise<AuthorizationCodeRecord | undefined>;
  /** True when a replay of this code arrived (read by the winner after its session exists). */
  wasReplayed(hash: string): Promise<boolean>;
  /** Deletes up to `batch` codes that expired before `cutoff`. */
  purge(cutoff: Date, batch: number): Promise<number>;
}
