import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { type ListPage, loadPage } from '../accounts/page.js';
import { AccountError, describeUser, isUuid, ROLE, USERNAME, type UserRef } from '../accounts/users.js';
import { SYSTEM_STAMP } from '../audit/trail.js';
import { StoreError } from '../errors.js';
import type { FactSink } from '../facts/publisher.js';
import type { AuditStamp, UserRecord, UserStore } from '../stores/types.js';
import type { PasswordHasher } from '../tokens/passwords.js';
import { passwordPolicyError } from '../tokens/passwords.js';
import { account, adminStamp, jsonBody, listPage, param } from './admin_input.js';

/**
 * User administration (docs/admin.md): the operations the admin API, the CLI and the embedded seed
 * share, on the user table itself, and the admin API's steps for them. The account's rules are
 * src/accounts/users.ts.
 */

export interface UserAccountsDeps {
  /** The user table. */
  users: UserStore;
  hasher: PasswordHasher;
  now: () => number;
  /** Every change is a fact (src/facts/facts.ts), written once by the facts writer. */
  facts: FactSink;
  /**
   * Ends all of the user's sessions: refresh families, login sessions of /authorize and pending
   * codes (the refresh store's `revokeUserSessions`, one transaction).
   */
  endSessions?: (userId: string, reason: string, stamp: AuditStamp) => Promise<void>;
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
    const user = isUuid(ref.id) ? await this.deps.users.findById(ref.id) : undefined;
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

/** What the steps use of the operations. */
export type UserAdminOperations = Pick<UserAccounts, 'create' | 'list' | 'get' | 'disable' | 'setPassword'>;

// --- the admin API steps (the route table names them) ---------------------------------------

/** Users are addressed by id in the API; anything that is not a UUID is simply not found. */
const userRef = (ctx: Context) => ({ id: param(ctx, 'id') });

export function adminUserSteps(deps: { userAccounts: UserAdminOperations }) {
  return {
    async listUsers(ctx: Context) {
      ctx.body = await account(() => deps.userAccounts.list(listPage(ctx)));
    },

    async createUser(ctx: Context) {
      const { username, password, roles = [] } = jsonBody(ctx, 'createUser');
      const created = await account(() =>
        deps.userAccounts.create(username, password, roles, adminStamp(ctx)),
      );
      ctx.status = 201;
      ctx.set('Location', `/admin/users/${created.id}`);
      ctx.body = await deps.userAccounts.get({ id: created.id });
    },

    async getUser(ctx: Context) {
      ctx.body = await account(() => deps.userAccounts.get(userRef(ctx)));
    },

    async disableUser(ctx: Context) {
      await account(() => deps.userAccounts.disable(userRef(ctx), adminStamp(ctx)));
      ctx.body = await deps.userAccounts.get(userRef(ctx));
    },

    async setUserPassword(ctx: Context) {
      const { password } = jsonBody(ctx, 'setUserPassword');
      await account(() => deps.userAccounts.setPassword(userRef(ctx), password, adminStamp(ctx)));
      ctx.status = 204;
    },
  };
}
