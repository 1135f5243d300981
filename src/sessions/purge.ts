import type { Logger } from 'pino';

import type {
  AuditStore,
  AuthorizationCodeStore,
  LoginSessionStore,
  RefreshTokenStore,
  RevocationStore,
} from '../stores/types.js';

/**
 * Dead families (expired or revoked) are kept this long before they are deleted with their tokens.
 * A spent token is kept as long as its family lives, so reuse of a stolen token is still detected;
 * one more day lets an operator see why a session ended (revoked_reason) before the row goes.
 */
export const SESSION_RETENTION_S = 24 * 3600;
/** Hourly is plenty: nothing reads dead rows, the purge only bounds table growth. */
export const PURGE_INTERVAL_MS = 3600 * 1000;
/** Rows per DELETE: short statements that never hold locks for long. */
export const PURGE_BATCH = 1000;
/** Batches per run, so one run never monopolises the database; the next run continues. */
const MAX_BATCHES = 50;

export interface PurgeDeps {
  refreshTokens: RefreshTokenStore;
  revocations: RevocationStore;
  audit: Pick<AuditStore, 'purge'>;
  /** AUDIT_RETENTION in seconds. */
  auditRetention: number;
  /** Expired authorization codes are kept as long as dead families, so a late replay still revokes. */
  authorizationCodes?: Pick<AuthorizationCodeStore, 'purge'>;
  /** Expired login sessions of /authorize: nothing reads them. */
  loginSessions?: Pick<LoginSessionStore, 'purge'>;
  now: () => number;
  log: Logger;
}

/** Runs one bounded delete until it comes back short or MAX_BATCHES ran; returns rows deleted. */
async function drain(purgeBatch: (batch: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const n = await purgeBatch(PURGE_BATCH);
    total += n;
    if (n < PURGE_BATCH) break;
  }
  return total;
}

/**
 * One purge run: dead refresh families (and their tokens), expired revocation records, codes and
 * logins, and audit events older than AUDIT_RETENTION.
 */
export async function purgeSessions(
  deps: PurgeDeps,
): Promise<{ families: number; revocations: number; auditEvents: number }> {
  const cutoff = new Date(deps.now() - SESSION_RETENTION_S * 1000);
  const families = await drain((batch) => deps.refreshTokens.purge(cutoff, batch));
  // Revocation records are useless once the blocked token expired (no retention needed).
  const revocations = await drain((batch) => deps.revocations.purgeExpired(new Date(deps.now()), batch));
  const { authorizationCodes, loginSessions } = deps;
  const codes = authorizationCodes ? await drain((batch) => authorizationCodes.purge(cutoff, batch)) : 0;
  const logins = loginSessions ? await drain((batch) => loginSessions.purge(new Date(deps.now()), batch)) : 0;
  const auditCutoff = new Date(deps.now() - deps.auditRetention * 1000);
  const auditEvents = await drain((batch) => deps.audit.purge(auditCutoff, batch));
  if (families + revocations + codes + logins + auditEvents > 0)
    deps.log.info(
      { families, revocations, codes, logins, auditEvents },
      'purged dead sessions and old audit events',
    );
  return { families, revocations, auditEvents };
}

/** Starts the hourly purge; the timer is unref'd so it never keeps the process alive. */
export function schedulePurge(deps: PurgeDeps, intervalMs = PURGE_INTERVAL_MS): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    purgeSessions(deps)
      .catch((err) =>
        deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'purge failed'),
      )
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
