import type { UserRecord } from '../stores/types.js';

/**
 * The rules of a user account (docs/admin.md, docs/cli.md): usernames, roles, ids, the public view,
 * and the refusals of the account operations (src/endpoints/admin_users.ts, shared by the CLI).
 */

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

export const USERNAME = /^[A-Za-z0-9._@+-]{1,128}$/;
export const ROLE = /^[A-Za-z0-9._:-]{1,64}$/;

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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);
