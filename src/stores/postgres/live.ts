/**
 * "A live refresh token", defined once (docs/sessions.md): its row is unspent and not past its
 * idle expiry, and its family (the session) is neither revoked nor past its absolute expiry. Every
 * query that asks "is this session or token still usable" uses these fragments; the transaction
 * path of a rotation, which must tell the failures apart, uses their JS twins below.
 * test/contract/live_refresh_token.test.ts pins the SQL and the JS to the same answers.
 */

/** SQL: the family `f` is live at the bound timestamp (one `?`). */
export const liveFamilySql = (f: string) => `(${f}.revoked_at IS NULL AND ${f}.expires_at > ?)`;

/** SQL: the token row `t` is unspent and within its idle expiry at the bound timestamp (one `?`). */
export const liveTokenRowSql = (t: string) => `(${t}.spent_at IS NULL AND ${t}.expires_at > ?)`;

/** SQL: a live refresh token (two `?`, both the same `now`). */
export const liveRefreshTokenSql = (t: string, f: string) =>
  `(${liveTokenRowSql(t)} AND ${liveFamilySql(f)})`;

export const familyIsLive = (f: { revokedAt: Date | null; expiresAt: Date }, now: Date) =>
  f.revokedAt === null && f.expiresAt > now;

export const tokenRowIsLive = (t: { spentAt: Date | null; expiresAt: Date }, now: Date) =>
  t.spentAt === null && t.expiresAt > now;
