import { randomUUID } from 'node:crypto';
import type { UserStore } from '../stores/types.js';
import type { PasswordHasher } from '../tokens/passwords.js';
import { passwordPolicyError } from '../tokens/passwords.js';

export class AccountError extends Error {
  constructor(
    readonly code: 'invalid' | 'exists' | 'not_found',
    message: string,
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
  /** Ends every session of the user (wired by the refresh-session module). */
  endSessions?: (userId: string, reason: string) => Promise<void>;
}

/** User administration shared by the CLI, the embedded seed and the admin API. */
export class UserAccounts {
  constructor(private readonly deps: UserAccountsDeps) {}

  async create(
    username: string,
    password: string,
    roles: string[] = [],
  ): Promise<{ id: string; username: string }> {
    if (!USERNAME.test(username))
      throw new AccountError('invalid', 'username must be 1-128 of A-Z a-z 0-9 . _ @ + -');
    const bad = roles.find((r) => !ROLE.test(r));
    if (bad !== undefined) throw new AccountError('invalid', `invalid role "${bad}"`);
    const policy = passwordPolicyError(password);
    if (policy) throw new AccountError('invalid', policy);
    if (await this.deps.users.findByUsername(username))
      throw new AccountError('exists', `user ${username} exists`);
    const user = await this.deps.users.create({
      id: randomUUID(),
      username,
      passwordHash: await this.deps.hasher.hash(password),
      roles: [...new Set(roles)],
    });
    return { id: user.id, username: user.username };
  }

  async disable(username: string): Promise<{ id: string; username: string }> {
    const user = await this.find(username);
    await this.deps.users.disable(user.id, new Date(this.deps.now()));
    await this.deps.endSessions?.(user.id, 'user_disabled');
    return { id: user.id, username };
  }

  async setPassword(username: string, password: string): Promise<{ id: string; username: string }> {
    const policy = passwordPolicyError(password);
    if (policy) throw new AccountError('invalid', policy);
    const user = await this.find(username);
    await this.deps.users.setPasswordHash(
      user.id,
      await this.deps.hasher.hash(password),
      new Date(this.deps.now()),
    );
    await this.deps.endSessions?.(user.id, 'password_changed');
    return { id: user.id, username };
  }

  async find(username: string) {
    const user = await this.deps.users.findByUsername(username);
    if (!user) throw new AccountError('not_found', `no user ${username}`);
    return user;
  }
}
