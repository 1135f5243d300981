import { z } from 'zod';
import { GRANT_TYPES } from '../stores/types.js';

/**
 * One schema per admin request body (docs/admin.md, openapi.yaml: test/http/admin_schemas.test.ts
 * checks the two agree). zod infers the handlers' input types from the same schemas, so a field
 * is named once. Unknown fields are refused (strict objects).
 */

const nonEmpty = z.string().min(1, 'is required');
const strings = z.array(z.string()).max(100, 'must be an array of at most 100 strings');

/** What PATCH may change; create also takes the kind of client, which is fixed for its life. */
export const editableClientFields = {
  name: nonEmpty,
  grant_types: z.array(z.enum(GRANT_TYPES)).max(100),
  scopes: strings,
  audiences: strings,
  redirect_uris: strings,
  allowed_origins: strings,
  refresh_cookie: z.boolean(),
  dpop_bound_access_tokens: z.boolean(),
};

export const adminBodies = {
  createClient: z.strictObject({
    ...editableClientFields,
    grant_types: editableClientFields.grant_types.optional(),
    scopes: strings.optional(),
    audiences: strings.optional(),
    redirect_uris: strings.optional(),
    allowed_origins: strings.optional(),
    refresh_cookie: z.boolean().optional(),
    dpop_bound_access_tokens: z.boolean().optional(),
    public: z.boolean().optional(),
    introspect: z.boolean().optional(),
    admin: z.boolean().optional(),
  }),
  updateClient: z.strictObject(editableClientFields).partial(),
  createUser: z.strictObject({ username: nonEmpty, password: nonEmpty, roles: strings.optional() }),
  setUserPassword: z.strictObject({ password: nonEmpty }),
};

export type AdminBody = keyof typeof adminBodies;

/** The first problem as `[field, message]`, for the admin API's 422 naming the field. */
export function firstIssue(error: z.ZodError): [field: string, message: string] {
  const issue = error.issues[0];
  if (!issue) return ['body', 'is invalid'];
  if (issue.code === 'unrecognized_keys') return [String(issue.keys[0]), 'unknown field'];
  const field = String(issue.path[0] ?? 'body');
  if (issue.code === 'invalid_type' && issue.input === undefined) return [field, 'is required'];
  if (issue.code === 'invalid_value' && issue.path.length > 1)
    return [field, `unknown value "${String(issue.input)}"`];
  return [field, issue.message];
}
