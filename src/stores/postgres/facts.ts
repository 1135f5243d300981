import type { Knex } from 'knex';
import { auditRows, revocationRows } from '../../facts/audit_rows.js';
import type { SecurityFact } from '../../facts/facts.js';
import type { FactPublisher, FactSink } from '../../facts/publisher.js';
import type { AuditStamp } from '../types.js';
import { insertAuditEvents } from './audit_events.js';
import { upsertRevocations } from './revocations.js';

export interface FactWriterDeps {
  /** After commit: events, metrics, logs, and the denylist cache of what was revoked. */
  publisher: Pick<FactPublisher, 'published'>;
  now: () => number;
}

/**
 * The writer of facts that have no transaction of their own (a failed login, an access-token
 * revocation, an admin change, a consent): their durable revocation rows and their audit rows in
 * one transaction (src/facts/audit_rows.ts is the one mapping), then the publisher. Awaited: a fact
 * is never dropped silently, and a database outage fails the request like any other write
 * (docs/audit.md). A change that has a transaction writes its facts in it (the refresh store).
 */
export class PostgresFactWriter implements FactSink {
  constructor(
    private readonly db: Knex,
    private readonly deps: FactWriterDeps,
  ) {}

  async record(stamp: AuditStamp, facts: readonly SecurityFact[]): Promise<void> {
    const at = new Date(this.deps.now());
    const revocations = revocationRows(facts);
    const rows = auditRows(stamp, at, facts);
    if (revocations.length > 0 || rows.length > 0)
      await this.db.transaction(async (trx) => {
        await upsertRevocations(trx, revocations, at);
        await insertAuditEvents(trx, rows);
      });
    await this.deps.publisher.published(facts, revocations);
  }
}
