import type { AuditEvent, AuditStamp } from '../stores/types.js';
import type { SecurityFact } from './facts.js';

/**
 * The one insert of a request's audit rows, then the publisher with its facts (their revocations
 * are durable and cached already, when they were recorded). src/stores/postgres/facts.ts.
 */
export interface FactBatchWriter {
  write(rows: readonly AuditEvent[], facts: readonly SecurityFact[]): Promise<void>;
}
export type WriteFacts = FactBatchWriter['write'];

/**
 * The facts without a transaction of their own that one HTTP request raised (a failed login, a
 * consent, an admin change), held until the request's end: there the per-request writer
 * (./request_writer.ts) writes their audit rows in one insert, then hands them to the publisher
 * (docs/audit.md).
 */
export class RequestFacts {
  private rows: AuditEvent[] = [];
  private facts: SecurityFact[] = [];
  private open = true;

  /** `ip` and `requestId` are read from the request once, when it reaches the writer. */
  constructor(
    private readonly ip: string,
    private readonly requestId: string | null,
    private readonly writeFacts: WriteFacts,
  ) {}

  /** The audit stamp of this request for `actor`: facts recorded with it wait for the request's end. */
  stamp(actor: string): AuditStamp {
    return new RequestStamp(actor, this.ip, this.requestId, this);
  }

  /** Whether the request still takes facts (its insert has not begun). */
  isOpen(): boolean {
    return this.open;
  }

  /** Holds the rows and facts for the request's end; false once its insert has begun. */
  add(rows: readonly AuditEvent[], facts: readonly SecurityFact[]): boolean {
    if (!this.open) return false;
    this.rows.push(...rows);
    this.facts.push(...facts);
    return true;
  }

  /**
   * Closes the request to new facts and writes what it held, once; undefined when it held none (most
   * requests: nothing to await). A fact recorded after this (work outliving its request) is
   * written on its own.
   */
  write(): Promise<void> | undefined {
    if (!this.open) return undefined;
    this.open = false;
    if (this.facts.length === 0) return undefined;
    const { rows, facts } = this;
    this.rows = [];
    this.facts = [];
    return this.writeFacts(rows, facts);
  }

  /** The request a stamp was made for, if it was made by one (not the CLI's or the schedule's). */
  static of(stamp: AuditStamp): RequestFacts | undefined {
    return RequestStamp.factsOf(stamp);
  }
}

/**
 * A plain stamp to everything that reads it: the link to its request is a private field, so
 * spreading the stamp into an audit row (./audit_rows.ts) or a log line copies only the three
 * fields of AuditStamp.
 */
class RequestStamp implements AuditStamp {
  readonly #request: RequestFacts;

  constructor(
    readonly actor: string,
    readonly ip: string | null,
    readonly requestId: string | null,
    request: RequestFacts,
  ) {
    this.#request = request;
  }

  static factsOf(stamp: AuditStamp): RequestFacts | undefined {
    return #request in stamp ? (stamp as RequestStamp).#request : undefined;
  }
}
