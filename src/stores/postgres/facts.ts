import type { Knex } from 'knex';
import { auditRows, revocationRows } from '../../facts/audit_rows.js';
import type { SecurityFact } from '../../facts/facts.js';
import type { FactPublisher, FactSink } from '../../facts/publisher.js';
import { type FactBatchWriter, RequestFacts } from '../../facts/request_facts.js';
import type { AuditEvent, AuditStamp } from '../types.js';
import { insertAuditEvents } from './audit_events.js';
import { upsertRevocations } from './revocations.js';

export interface FactWriterDeps {
  /** After commit: events, metrics, logs, and the denylist cache of what was revoked. */
  publisher: Pick<FactPublisher, 'published'>;
  now: () => number;
}

/**
 * The writer of facts that have no transaction of their own (a failed login, an access-token
 * revocation, an admin change, a consent); src/facts/audit_rows.ts is the one mapping. A
 * revocation is the change itself: its durable row is written at once. The audit rows and the
 * publisher: for a stamp of an HTTP request (src/facts/stamp.ts), once for the whole request at its
 * end, before the answer is sent (src/facts/request_writer.ts); for the CLI's and the schedule's
 * stamps, here, in the revocation's transaction. Awaited either way: a fact is never dropped
 * silently, and a database outage fails the request like any other write (docs/audit.md). A
 * change that has a transaction writes its facts in it (the refresh store).
 */
export class PostgresFactWriter implements FactSink, FactBatchWriter {
  constructor(
    private readonly db: Knex,
    private readonly deps: FactWriterDeps,
  ) {}

  async record(stamp: AuditStamp, facts: readonly SecurityFact[]): Promise<void> {
    const at = new Date(this.deps.now());
    const revocations = revocationRows(facts);
    const rows = auditRows(stamp, at, facts);
    const request = RequestFacts.of(stamp);
    if (request?.isOpen()) {
      if (revocations.length > 0) {
        await upsertRevocations(this.db, revocations, at);
        // Into the denylist cache at once, not at the request's end: were the request's audit
        // insert to fail, a revocation already durable would otherwise be missing from the cache
        // (Redis) that token checks read, until the next rebuild.
        await this.deps.publisher.published([], revocations);
      }
      if (request.add(rows, facts)) return;
      // The request's insert began meanwhile: this fact's rows are written on their own.
      return this.write(rows, facts);
    }
    if (revocations.length > 0 || rows.length > 0)
      await this.db.transaction(async (trx) => {
        await upsertRevocations(trx, revocations, at);
        await insertAuditEvents(trx, rows);
      });
    await this.deps.publisher.published(facts, revocations);
  }

  /** One request's audit rows in one insert, then the publisher. */
  async write(rows: readonly AuditEvent[], facts: readonly SecurityFact[]): Promise<void> {
    if (rows.length > 0) await insertAuditEvents(this.db, [...rows]);
    await this.deps.publisher.published(facts);
  }
}
