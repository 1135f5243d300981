import argon2 from 'argon2';
import { HashingQueue } from './hashing_queue.js';

export interface PasswordHashingOptions {
  /** KiB. Default 19 MiB, t=2, p=1: OWASP's argon2id baseline (Password Storage Cheat Sheet). */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export const DEFAULT_PASSWORD_HASHING: PasswordHashingOptions = {
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
};

/**
 * argon2id hashing; `verifyUnknownUser` burns the same work so unknown usernames are not faster.
 * Every hash goes through one server-wide HashingQueue, which answers 503 when it is full.
 */
export class PasswordHasher {
  private dummy: Promise<string> | undefined;

  constructor(
    private readonly options: PasswordHashingOptions = DEFAULT_PASSWORD_HASHING,
    private readonly queue: HashingQueue = new HashingQueue(),
  ) {}

  hash(password: string): Promise<string> {
    return this.queue.run(() => argon2.hash(password, { type: argon2.argon2id, ...this.options }));
  }

  verify(hash: string, password: string): Promise<boolean> {
    // A corrupt stored hash is a failed login, not a 500 (a full queue still is a 503).
    return this.queue.run(() => argon2.verify(hash, password).catch(() => false));
  }

  async verifyUnknownUser(password: string): Promise<false> {
    this.dummy ??= this.hash('tessera-dummy-password-for-timing');
    await this.verify(await this.dummy, password);
    return false;
  }
}

/** Minimal policy: long enough to matter, short enough not to be a hashing DoS. */
export function passwordPolicyError(password: string): string | undefined {
  if (password.length < 8) return 'password must be at least 8 characters';
  if (password.length > 1024) return 'password must be at most 1024 characters';
  return undefined;
}
