import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { TokenRejected } from '../../src/tokens/access_token.js';
import { introspect } from '../helpers/oauth.js';
import { API, ISSUER, type Real, SETTINGS, sha256 } from './system.js';

/**
 * The reference model of the session protocol (docs/sessions.md, "The session protocol as a
 * model"): what a user, two clients and the server's sessions are, as plain values. Commands
 * (commands.ts) predict each answer from it, then compare with the real server, and
 * `checkInvariants` compares the whole of it with Postgres after every step.
 */

export interface FamilyModel {
  sid: string;
  client: number;
  user: number;
  /** Fixed at the start of the session; no rotation moves it. */
  expiresAt: number;
  /** Revoked (the sid is on the denylist). An expired family is not ended: it just stops. */
  ended: boolean;
  /** The family's one unspent refresh token, and its idle expiry. */
  current: string;
  currentExpiresAt: number;
  /** The parent of `current` (the only token the leeway may accept again) and when it was spent. */
  previous: string | null;
  previousSpentAt: number;
  /** Every other spent token: presenting one is reuse. */
  older: string[];
  scope: string[];
  audience: string[];
  /** Access tokens the session yielded, newest last. */
  access: string[];
}

export interface CodeModel {
  code: string;
  verifier: string;
  client: number;
  user: number;
  expiresAt: number;
  /** The audience the code was issued for: the client's audiences at the authorization request. */
  audience: string[];
  /** `gone`: deleted unredeemed when the user's sessions ended. */
  state: 'pending' | 'used' | 'gone';
  sid: string | null;
}

export interface ClientModel {
  scopes: string[];
  audiences: string[];
  leeway: number;
}

export interface UserModel {
  disabled: boolean;
  /** The browser (its cookie jar) holds a live login session of /authorize. */
  signedIn: boolean;
}

export interface Model {
  now: number;
  clients: ClientModel[];
  users: UserModel[];
  families: FamilyModel[];
  codes: CodeModel[];
  /** The sids on the denylist: exactly the ended families. */
  denylist: Set<string>;
  /** Sessions started and ended inside a race whose every answer was refused: they stay ended. */
  orphans: string[];
}

export function initialModel(real: Real): Model {
  return {
    now: real.server.clock.now(),
    clients: real.clients.map((c) => ({
      scopes: ['read', 'write'],
      audiences: [ISSUER, API],
      leeway: c.leeway,
    })),
    users: real.users.map(() => ({ disabled: false, signedIn: false })),
    families: [],
    codes: [],
    denylist: new Set(),
    orphans: [],
  };
}

export const pick = <T>(list: T[], i: number): T | undefined =>
  list.length === 0 ? undefined : list[i % list.length];

export const familyLive = (m: Model, f: FamilyModel) => !f.ended && m.now < f.expiresAt;

export function endFamily(m: Model, f: FamilyModel): void {
  f.ended = true;
  m.denylist.add(f.sid);
}

/** A session started by a token answer (password or authorization code). */
export function startFamily(
  m: Model,
  client: number,
  user: number,
  body: Record<string, unknown>,
): FamilyModel {
  const access = body.access_token as string;
  const refresh = body.refresh_token as string;
  assert.equal(typeof refresh, 'string', 'a refresh token for a client with the refresh grant');
  const expiresAt = m.now + SETTINGS.maxAge * 1000;
  const f: FamilyModel = {
    sid: decodeJwt(access).sid as string,
    client,
    user,
    expiresAt,
    ended: false,
    current: refresh,
    currentExpiresAt: Math.min(m.now + SETTINGS.idleTtl * 1000, expiresAt),
    previous: null,
    previousSpentAt: 0,
    older: [],
    scope: String(body.scope).split(' '),
    audience: audienceList(access),
    access: [access],
  };
  m.families.push(f);
  return f;
}

function audienceList(accessToken: string): string[] {
  const aud = decodeJwt(accessToken).aud;
  return typeof aud === 'string' ? [aud] : (aud ?? []);
}

/** What the family may still carry under its client as it is now (src/sessions/bounds.ts). */
export function bounds(m: Model, f: FamilyModel) {
  const c = m.clients[f.client] as ClientModel;
  return {
    scope: f.scope.filter((s) => c.scopes.includes(s)),
    audience: f.audience.filter((a) => c.audiences.includes(a)),
  };
}

/** A code a redemption can turn into a session now: pending, fresh, and some audience left. */
export function redeemable(m: Model, c: CodeModel): boolean {
  const now = m.clients[c.client] as ClientModel;
  return c.state === 'pending' && m.now < c.expiresAt && c.audience.some((a) => now.audiences.includes(a));
}

export type RefreshOutcome = 'rotated' | 'leeway' | 'reuse' | 'refused' | 'client_changed';

/** The answer to presenting `token` of family `f` now (docs/sessions.md: rotation, reuse, leeway). */
export function expectRefresh(m: Model, f: FamilyModel, token: string): RefreshOutcome {
  if (!familyLive(m, f)) return 'refused';
  const c = m.clients[f.client] as ClientModel;
  const lost = bounds(m, f).audience.length === 0;
  if (token === f.current) {
    if (m.now >= f.currentExpiresAt) return 'refused';
    return lost ? 'client_changed' : 'rotated';
  }
  if (token === f.previous && c.leeway > 0 && m.now - f.previousSpentAt <= c.leeway * 1000)
    return lost ? 'client_changed' : 'leeway';
  return 'reuse';
}

/** The model after `token` of `f` yielded `body` (a rotation or a leeway replacement). */
export function applyRefresh(m: Model, f: FamilyModel, token: string, body: Record<string, unknown>): void {
  const b = bounds(m, f);
  if (token === f.current) {
    if (f.previous) f.older.push(f.previous);
    f.previous = f.current;
    f.previousSpentAt = m.now;
  } else {
    // The leeway: the live token is replaced by a sibling; the previous token stays the parent.
    f.older.push(f.current);
  }
  f.current = body.refresh_token as string;
  f.currentExpiresAt = Math.min(m.now + SETTINGS.idleTtl * 1000, f.expiresAt);
  f.scope = b.scope;
  f.audience = b.audience;
  f.access.push(body.access_token as string);
}

/** Answers must never be 5xx, and only the statuses the protocol allows. */
export function expectStatus(res: { status: number; body?: unknown }, allowed: number[], what: string): void {
  // Only the error fields: a failing run's report must not print tokens.
  const b = (res.body ?? {}) as Record<string, unknown>;
  const detail = `${res.status} ${b.error ?? ''} ${b.error_description ?? ''}`;
  assert.ok(res.status < 500, `${what}: ${detail}`);
  assert.ok(allowed.includes(res.status), `${what}: ${detail}, expected one of ${allowed}`);
}

/** "Every revocation is durable before it is acknowledged": right after the answer, in Postgres. */
export async function assertDurable(real: Real, sid: string): Promise<void> {
  const { db } = real.server.s.services;
  const family = await db('refresh_families').where({ id: sid }).first('revoked_at');
  assert.ok(family?.revoked_at, `family ${sid} revoked in Postgres once acknowledged`);
  const row = await db('revocations').where({ kind: 'sid', value: sid }).first('value');
  assert.ok(row, `sid ${sid} in revocations once acknowledged`);
}

interface TokenRow {
  family_id: string;
  parent_id: string | null;
  token_hash: string;
  expires_at: Date;
  spent_at: Date | null;
}

/**
 * The invariants, after every step: the model and Postgres agree, at most one live child per
 * token (and per family), absolute expiry never moves, no access token of an ended family passes
 * verification or introspection, and every live family's newest access token still does.
 */
export async function checkInvariants(m: Model, real: Real): Promise<void> {
  const { s } = real.server;
  const { db, verifier } = s.services;
  for (const sid of m.orphans) {
    const row = await db('refresh_families').where({ id: sid }).first('revoked_at');
    assert.ok(row?.revoked_at, `the session ${sid} of a code redeemed twice at once stays ended`);
  }
  if (m.families.length === 0) return;
  const now = new Date(m.now);
  const sids = m.families.map((f) => f.sid);
  const families: { id: string; expires_at: Date; revoked_at: Date | null }[] = await db('refresh_families')
    .whereIn('id', sids)
    .select('id', 'expires_at', 'revoked_at');
  const tokens: TokenRow[] = await db('refresh_tokens')
    .whereIn('family_id', sids)
    .select('family_id', 'parent_id', 'token_hash', 'expires_at', 'spent_at');
  const byId = new Map(families.map((r) => [r.id, r]));

  const liveChildren = new Map<string, number>();
  for (const t of tokens) {
    if (t.spent_at !== null || new Date(t.expires_at) <= now) continue;
    const key = `${t.family_id}/${t.parent_id}`;
    liveChildren.set(key, (liveChildren.get(key) ?? 0) + 1);
  }
  for (const [key, n] of liveChildren) assert.ok(n <= 1, `at most one live child per token: ${key} has ${n}`);

  for (const f of m.families) {
    const row = byId.get(f.sid);
    assert.ok(row, `family ${f.sid} exists`);
    assert.equal(new Date(row.expires_at).getTime(), f.expiresAt, `absolute expiry of ${f.sid} never moves`);
    assert.equal(
      row.revoked_at !== null,
      f.ended,
      `family ${f.sid} ended in the model iff revoked in Postgres`,
    );
    const own = tokens.filter((t) => t.family_id === f.sid);
    for (const t of own)
      assert.ok(new Date(t.expires_at).getTime() <= f.expiresAt, 'no token outlives its family');
    const unspent = own.filter((t) => t.spent_at === null);
    if (!f.ended) {
      // Exactly one unspent token per live family (children of a client_changed end aside).
      assert.equal(unspent.length, 1, `one unspent token in ${f.sid}`);
      assert.equal(unspent[0]?.token_hash, sha256(f.current), `the model's current token of ${f.sid}`);
    }
    assert.equal(m.denylist.has(f.sid), f.ended);
    if (f.ended) await assertDead(real, f);
    else if (familyLive(m, f) && !m.users[f.user]?.disabled) {
      const latest = f.access.at(-1) as string;
      const exp = (decodeJwt(latest).exp as number) * 1000;
      if (exp > m.now + 2000) await verifier.verify(latest);
    }
  }
}

/** No access token of an ended family passes verification or introspection. */
async function assertDead(real: Real, f: FamilyModel): Promise<void> {
  const { s, rs } = real.server;
  for (const token of f.access.slice(-3)) {
    const err = await s.services.verifier.verify(token).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof TokenRejected, `an access token of ended family ${f.sid} is refused (${err})`);
  }
  const latest = f.access.at(-1);
  if (latest === undefined) return;
  const res = await introspect(s, rs, latest);
  expectStatus(res, [200], 'introspection');
  assert.equal(res.body.active, false, `introspection of ended family ${f.sid}`);
}
