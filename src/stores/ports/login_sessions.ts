/** Browser login sessions of /authorize. */

import type { SessionFact } from '../../facts/facts.js';
import type { AuditStamp } from './audit.js';

/** A browser login at /authorize; the cookie value is never stored, only its digest. */
export interface LoginSessionRecord {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface LoginSessionStore {
  create(session: LoginSessionRecord & { hash: string }): Promise<void>;
  findByHash(hash: string): Promise<LoginSessionRecord | undefined>;
  /** The user's login sessions still alive at `now`, newest first (the session lists). */
  listLive(userId: string, now: Date): Promise<LoginSessionRecord[]>;
  /**
   * Ends the session of a login cookie (its row goes) and, if it was still alive, audits its
   * `session.ended` with `ending.audit` in the same transaction; returns that fact for the publisher.
   */
  endByHash(hash: string, ending: LoginSessionEnding): Promise<SessionFact[]>;
  /** Deletes up to `batch` sessions that expired before `cutoff`. */
  purge(cutoff: Date, batch: number): Promise<number>;
}

/** Why and when login sessions end, and who ended them (no stamp, no audit row). */
export interface LoginSessionEnding {
  reason: string;
  at: Date;
  audit?: AuditStamp;
}
