import { randomUUID } from 'node:crypto';
import { SYSTEM_STAMP } from '../audit/trail.js';
import { StoreError } from '../errors.js';
import type { FactSink } from '../facts/publisher.js';
import type { AuditStamp, UserRecord, UserStore } from '../stores/types.js';
import type { PasswordHasher } from '../tokens/passwords.js';
import { passwordPolicyError } from '../tokens/passwords.js';
import { type ListPage, loadPage } from './page.js';

export class AccountError extends Error {
  constructor(
    readonly code: 'invalid' | 'exists' | 'not_found' | 'forbidden',
    message: string,
    /** The input field at fault (JSON name), for validation errors. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AccountError';
  }
}

const USERNAME = /^[A-Za-z0-9._@+-]{1,128}$/;
const ROLE = /^[A-Za-z0-9._:-]{1,64}$/;

export interface UserAccountsDeps {
  users: UserStore;
  hasher: PasswordHasher;
  now: () => number;
  /** Every change is a fact (src/facts/facts.ts), written once by the facts writer. */
  facts: FactSink;
  /**
   * Ends all of the user's sessions: refresh families, login sessions of /authorize and pending
   * codes (the one operation of src/sessions/sessions.ts `endUserSessions`).
   */
  endSessions?: (userId: string, reason: string, stamp: AuditStamp) => Promise<void>;
}

/** A user named by username (the CLI) or by id (the admin API). */
export type UserRef = string | { id: string };

/** The public view of a user: never the password hash. */
export function describeUser(u: UserRecord) {
  return {
    id: u.id,
    username: u.username,
    roles: u.roles,
    disabled: u.disabledAt !== null,
    created_at: u.createdAt.toISOString(),
    password_changed_at: u.passwordChangedAt.toISOString(),
  };
}

/**
 * User administration shared by the CLI, the embedded seed and the admin API. Every change is an
 * audit event stamped with its actor (`cli`, the admin client, or `system` for the seed).
 */
export class UserAccounts {
  constructor(private readonly deps: UserAccountsDeps) {}

  async create(
    username: string,
    password: string,
    roles: string[] = [],
    stamp: AuditStamp = SYSTEM_STAMP,
  ): Promise<{ id: string; username: string }> {
    if (!USERNAME.test(username))
      throw new AccountError('invalid', 'username must be 1-128 of A-Z a-z 0-9 . _ @ + -', 'username');
    const bad = roles.find((r) => !ROLE.test(r));
    if (bad !== undefined) throw new AccountError('invalid', `invalid role "${bad}"`, 'roles');
    const policy = passwordPolicyError(password);
    if (policy) throw new AccountError('invalid', policy, 'password');
    if (await this.deps.users.findByUsername(username))
      throw new AccountError('exists', `user ${username} exists`, 'username');
    const user = await this.deps.users
      .create({
        id: randomUUID(),
        username,
        passwordHash: await this.deps.hasher.hash(password),
        roles: [...new Set(roles)],
      })
      .catch((err: unknown) => {
        // A concurrent create of the same username won the insert.
        if (err instanceof StoreError && err.code === 'exists')
          throw new AccountError('exists', `user ${username} exists`, 'username');
        throw err;
      });
    await this.deps.facts.record(stamp, [
      { type: 'user.created', userId: user.id, username: user.username, roles: user.roles },
    ]);
    return { id: user.id, username: user.username };
  }

  /**
   * Disabling ends all of the user's sessions at once: their `sid`s are denylisted, their login
   * sessions of /authorize end, and codes not yet redeemed are deleted.
   */
  async disable(ref: UserRef, stamp: AuditStamp = SYSTEM_STAMP): Promise<{ id: string; username: string }> {
    const user = await this.resolve(ref);
    await this.deps.users.disable(user.id, new Date(this.deps.now()));
    await this.deps.facts.record(stamp, [
      { type: 'user.disabled', userId: user.id, username: user.username },
    ]);
    await this.deps.endSessions?.(user.id, 'user_disabled', stamp);
    return { id: user.id, username: user.username };
  }

  async setPassword(
    ref: UserRef,
    password: string,
    stamp: AuditStamp = SYSTEM_STAMP,
  ): Promise<{ id: string; username: string }> {
    const policy = passwordPolicyError(password);
    if (policy) throw new AccountError('invalid', policy, 'password');
    const user = await this.resolve(ref);
    await this.deps.users.setPasswordHash(
      user.id,
      await this.deps.hasher.hash(password),
      new Date(this.deps.now()),
    );
    await this.deps.facts.record(stamp, [
      { type: 'user.password_changed', userId: user.id, username: user.username },
    ]);
    await this.deps.endSessions?.(user.id, 'password_changed', stamp);
    return { id: user.id, username: user.username };
  }

  async find(username: string) {
    const user = await this.deps.users.findByUsername(username);
    if (!user) throw new AccountError('not_found', `no user ${username}`);
    return user;
  }

  async resolve(ref: UserRef): Promise<UserRecord> {
    if (typeof ref === 'string') return this.find(ref);
    // Ids are UUIDs; anything else cannot name a user (and must not reach a uuid column).
    const user = UUID.test(ref.id) ? await this.deps.users.findById(ref.id) : undefined;
    if (!user) throw new AccountError('not_found', 'no user with this id');
    return user;
  }

  async get(ref: UserRef) {
    return describeUser(await this.resolve(ref));
  }

  /** Oldest first, `limit` per page; `cursor` is the `next_cursor` of the previous page. */
  async list(page: ListPage = {}) {
    const { items, nextCursor } = await loadPage(page, (q) => this.deps.users.page(q), isUuid);
    return { users: items.map(describeUser), ...(nextCursor ? { next_cursor: nextCursor } : {}) };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);
