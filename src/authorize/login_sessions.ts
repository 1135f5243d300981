import { randomUUID } from 'node:crypto';
import type { FactPublisher } from '../facts/publisher.js';
import type { AuditStamp, LoginSessionStore, UserRecord, UserStore } from '../stores/types.js';
import { randomToken, sha256 } from '../tokens/secrets.js';

export interface LoginSessionDeps {
  store: LoginSessionStore;
  users: Pick<UserStore, 'findById'>;
  /** After commit: the `session.ended` fact the store audited goes to events and logs. */
  publisher: Pick<FactPublisher, 'published'>;
  /** LOGIN_SESSION_TTL in seconds. */
  ttl: number;
  now: () => number;
}

/**
 * The browser's sign-in at /authorize: while it lives, the user is not asked again. Only the
 * cookie's SHA-256 is stored. A disabled user, or a password changed after the sign-in, ends it.
 */
export class LoginSessions {
  constructor(private readonly deps: LoginSessionDeps) {}

  /**
   * A new session for `userId`; the returned token goes into the login cookie for `maxAge` s, and
   * `id` into the codes it issues (so ending their families can end it too).
   */
  async start(userId: string): Promise<{ id: string; token: string; maxAge: number }> {
    const token = randomToken(32);
    const now = this.deps.now();
    const id = randomUUID();
    await this.deps.store.create({
      id,
      hash: sha256(token),
      userId,
      createdAt: new Date(now),
      expiresAt: new Date(now + this.deps.ttl * 1000),
    });
    return { id, token, maxAge: this.deps.ttl };
  }

  /** The signed-in user of a login cookie and the session's id, or undefined when none is valid. */
  async signedIn(token: string | undefined): Promise<{ user: UserRecord; sessionId: string } | undefined> {
    if (token === undefined) return undefined;
    const session = await this.deps.store.findByHash(sha256(token));
    if (!session || session.expiresAt.getTime() <= this.deps.now()) return undefined;
    const user = await this.deps.users.findById(session.userId);
    // Ending all of a user's sessions deletes the row; these checks also hold for a session that
    // predates that rule: a disabled user, or a password changed after the sign-in, ends it.
    if (!user || user.disabledAt) return undefined;
    if (user.passwordChangedAt.getTime() > session.createdAt.getTime()) return undefined;
    return { user, sessionId: session.id };
  }

  /** The signed-in user of a login cookie, or undefined when there is none that is still valid. */
  async user(token: string | undefined): Promise<UserRecord | undefined> {
    return (await this.signedIn(token))?.user;
  }

  /**
   * Ends the session of a login cookie: `session.ended` (kind `login`) is audited with `stamp` in
   * the deleting transaction (docs/audit.md), as when it ends with a user's sessions.
   */
  async end(token: string, reason: string, stamp?: AuditStamp): Promise<void> {
    const at = new Date(this.deps.now());
    const facts = await this.deps.store.endByHash(sha256(token), { reason, at, audit: stamp });
    await this.deps.publisher.published(facts);
  }
}
