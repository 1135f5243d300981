/** Browser login sessions of /authorize. */

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
  deleteByHash(hash: string): Promise<void>;
  /** Deletes up to `batch` sessions that expired before `cutoff`. */
  purge(cutoff: Date, batch: number): Promise<number>;
}
