/**
 * Narrow storage interfaces with domain verbs, one file per concern in ./ports/. Implementations
 * are chosen once in the composition root (src/compose.ts): Postgres via knex (real or PGlite),
 * Redis or in-process memory. This file only re-exports them, so existing imports keep working.
 */
export * from './ports/accounts.js';
export * from './ports/audit.js';
export * from './ports/authorization_codes.js';
export * from './ports/login_sessions.js';
export * from './ports/refresh_tokens.js';
export * from './ports/revocations.js';
export * from './ports/signing_keys.js';
