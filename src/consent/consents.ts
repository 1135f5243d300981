import type { FactSink } from '../facts/publisher.js';
import type { AuditStamp, RefreshTokenStore } from '../stores/types.js';
import type { ConsentRecord, ConsentStore } from './store.js';

/** What a consent is given to: this client, these scopes, tokens for this audience. */
export interface ConsentSubject {
  clientId: string;
  scope: string;
  audience: readonly string[];
}

export interface ConsentDeps {
  store: ConsentStore;
  /** CONSENT_TTL in seconds. */
  ttl: number;
  now: () => number;
  /** Every grant, refusal and revocation is a fact, written once by the facts writer. */
  facts: FactSink;
  /** The client's sessions of the user end with its consents (audited by the store). */
  refreshTokens: Pick<RefreshTokenStore, 'listLiveFamilies' | 'revokeFamily'>;
}

/** The stored key: scope tokens sorted, so "read write" and "write read" are one consent. */
const keyOf = (userId: string, s: ConsentSubject) => ({
  userId,
  clientId: s.clientId,
  scope: [...new Set(s.scope.split(' ').filter(Boolean))].sort().join(' '),
  resource: [...s.audience].sort().join(' '),
});

export const describeConsent = (c: ConsentRecord) => ({
  client_id: c.clientId,
  scope: c.scope,
  resource: c.resource,
  granted_at: c.grantedAt.toISOString(),
  expires_at: c.expiresAt.toISOString(),
});

/**
 * Users' consents to third-party clients (docs/mcp.md, "Consent"): remembered per user, client,
 * scope and audience for CONSENT_TTL. Every grant, refusal and revocation is an audit event.
 */
export class Consents {
  constructor(private readonly deps: ConsentDeps) {}

  private at = () => new Date(this.deps.now());

  has(userId: string, subject: ConsentSubject): Promise<boolean> {
    return this.deps.store.has(keyOf(userId, subject), this.at());
  }

  async grant(userId: string, subject: ConsentSubject, stamp: AuditStamp): Promise<void> {
    const key = keyOf(userId, subject);
    const grantedAt = this.at();
    await this.deps.store.save({
      ...key,
      grantedAt,
      expiresAt: new Date(grantedAt.getTime() + this.deps.ttl * 1000),
    });
    await this.deps.facts.record(stamp, [
      {
        type: 'consent.granted',
        userId,
        clientId: subject.clientId,
        scope: key.scope,
        resource: key.resource,
      },
    ]);
  }

  async deny(userId: string, subject: ConsentSubject, stamp: AuditStamp): Promise<void> {
    const key = keyOf(userId, subject);
    await this.deps.facts.record(stamp, [
      {
        type: 'consent.denied',
        userId,
        clientId: subject.clientId,
        scope: key.scope,
        resource: key.resource,
      },
    ]);
  }

  async list(userId: string) {
    return (await this.deps.store.listLive(userId, this.at())).map(describeConsent);
  }

  /** Forgets the user's consents to the client and ends that client's sessions of that user. */
  async revoke(userId: string, clientId: string, stamp: AuditStamp) {
    const revoked = await this.deps.store.revoke(userId, clientId);
    const live = await this.deps.refreshTokens.listLiveFamilies(userId, this.at());
    const families = live.filter((f) => f.clientId === clientId);
    for (const f of families)
      await this.deps.refreshTokens.revokeFamily(f.id, { reason: 'consent_revoked', audit: stamp });
    await this.deps.facts.record(stamp, [
      { type: 'consent.revoked', userId, clientId, consents: revoked, sessionsEnded: families.length },
    ]);
    return { client_id: clientId, consents_revoked: revoked, sessions_ended: families.length };
  }
}
