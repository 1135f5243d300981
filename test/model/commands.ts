import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import {
  authorizationRequest,
  getAuthorize,
  hiddenFields,
  postAuthorize,
  REDIRECT_URI,
} from '../helpers/authorize.js';
import { basic, passwordLogin, postForm } from '../helpers/oauth.js';
import { logout, refresh, revoke } from '../helpers/sessions.js';
import {
  applyRefresh,
  assertDurable,
  bounds,
  type CodeModel,
  checkInvariants,
  endFamily,
  expectRefresh,
  expectStatus,
  type FamilyModel,
  familyLive,
  type Model,
  pick,
  redeemable,
  startFamily,
} from './model.js';
import { API, audienceOf, ISSUER, OTHER, type Real, race, SETTINGS, sha256 } from './system.js';

/**
 * The commands of the session model (docs/sessions.md, "The session protocol as a model"). Each
 * predicts its answer from the model, runs through the real HTTP app, compares, updates the model
 * and checks every invariant. Indices are taken modulo what exists, so any sequence is valid.
 */

type Cmd = fc.AsyncCommand<Model, Real, true>;

abstract class Base implements Cmd {
  check(_m: Readonly<Model>): Promise<boolean> {
    return Promise.resolve(true);
  }
  abstract step(m: Model, r: Real): Promise<void>;
  async run(m: Model, r: Real): Promise<void> {
    await this.step(m, r);
    await checkInvariants(m, r);
    const name = this.constructor.name;
    r.executed.set(name, (r.executed.get(name) ?? 0) + 1);
  }
  abstract toString(): string;
}

/** Families the command can act on, by index. */
abstract class OnFamily extends Base {
  constructor(readonly index: number) {
    super();
  }
  override check(m: Readonly<Model>) {
    return Promise.resolve(m.families.length > 0);
  }
  family(m: Model): FamilyModel {
    return pick(m.families, this.index) as FamilyModel;
  }
}

const client = (r: Real, i: number) => r.clients[i] as Real['clients'][number];
const user = (r: Real, i: number) => r.users[i] as Real['users'][number];

function sameSet(actual: string[], expected: string[], what: string) {
  assert.deepEqual([...actual].sort(), [...expected].sort(), what);
}

/** A 200 refresh answer carries what the family may still carry (src/sessions/bounds.ts). */
function checkGranted(m: Model, f: FamilyModel, body: Record<string, unknown>) {
  const b = bounds(m, f);
  sameSet(String(body.scope).split(' '), b.scope, 'refresh scope: the family less what the client lost');
  sameSet(audienceOf(body.access_token as string), b.audience, 'refresh audience');
  assert.equal(decodeJwt(body.access_token as string).sid, f.sid, 'same sid');
}

export class PasswordLogin extends Base {
  constructor(
    readonly user: number,
    readonly client: number,
  ) {
    super();
  }
  async step(m: Model, r: Real) {
    const u = user(r, this.user);
    const res = await passwordLogin(r.server.s, client(r, this.client), u.username, u.password);
    if (m.users[this.user]?.disabled) {
      expectStatus(res, [400], 'login of a disabled user');
      assert.equal(res.body.error, 'invalid_grant');
      return;
    }
    expectStatus(res, [200], 'password login');
    startFamily(m, this.client, this.user, res.body);
  }
  toString() {
    return `PasswordLogin(u${this.user}, c${this.client})`;
  }
}

/** /authorize in the user's browser: a login page, or a code at once while it is signed in. */
export class Authorize extends Base {
  constructor(
    readonly user: number,
    readonly client: number,
  ) {
    super();
  }
  async step(m: Model, r: Real) {
    const { s } = r.server;
    const u = user(r, this.user);
    const um = m.users[this.user] as Model['users'][number];
    const request = authorizationRequest(client(r, this.client).client_id);
    const page = await getAuthorize(s, request.params, u.jar);
    expectStatus(page, um.signedIn ? [302, 303] : [200], `/authorize (signed in: ${um.signedIn})`);
    let location = page.location;
    if (page.status === 200) {
      const res = await postAuthorize(
        s,
        { ...hiddenFields(page.html), username: u.username, password: u.password },
        u.jar,
      );
      expectStatus(res, um.disabled ? [200, 400, 401, 403] : [302, 303], 'sign-in');
      location = res.location;
    }
    const code = location ? new URL(location).searchParams.get('code') : null;
    if (um.disabled) {
      assert.equal(code, null, 'a disabled user gets no code');
      return;
    }
    assert.ok(code, `a code: ${location}`);
    um.signedIn = true;
    m.codes.push({
      code,
      verifier: request.pair.verifier,
      client: this.client,
      user: this.user,
      expiresAt: m.now + SETTINGS.codeTtl * 1000,
      audience: [...(m.clients[this.client] as Model['clients'][number]).audiences],
      state: 'pending',
      sid: null,
    });
  }
  toString() {
    return `Authorize(u${this.user}, c${this.client})`;
  }
}

function redeem(r: Real, c: CodeModel) {
  const cl = client(r, c.client);
  return postForm(
    `${r.server.s.url}/token`,
    { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI, code_verifier: c.verifier },
    { authorization: basic(cl.client_id, cl.client_secret as string) },
  );
}

async function codeFamily(r: Real, c: CodeModel): Promise<string | null> {
  const row = await r.server.s.services
    .db('authorization_codes')
    .where({ code_hash: sha256(c.code) })
    .first('family_id');
  return row?.family_id ?? null;
}

export class Redeem extends Base {
  constructor(readonly index: number) {
    super();
  }
  override check(m: Readonly<Model>) {
    return Promise.resolve(m.codes.length > 0);
  }
  async step(m: Model, r: Real) {
    const c = pick(m.codes, this.index) as CodeModel;
    const res = await redeem(r, c);
    // The client as it is now bounds the code as it bounds a refresh (docs/sessions.md): with no
    // audience of the code left, the redemption is refused and the code is not spent.
    if (c.state === 'pending' && m.now < c.expiresAt && !redeemable(m, c)) {
      expectStatus(res, [400], 'redeem a fresh code whose audience the client lost');
      assert.equal(res.body.error, 'invalid_grant');
      return;
    }
    if (redeemable(m, c)) {
      expectStatus(res, [200], 'redeem a fresh code');
      // The client as it is now bounds the first token too (src/sessions/bounds.ts).
      const now = m.clients[c.client] as Model['clients'][number];
      for (const sc of String(res.body.scope).split(' '))
        assert.ok(now.scopes.includes(sc), `redeemed scope ${sc} is one the client still has`);
      for (const a of audienceOf(res.body.access_token as string))
        assert.ok(now.audiences.includes(a), `redeemed audience ${a} is one the client still has`);
      c.state = 'used';
      c.sid = startFamily(m, c.client, c.user, res.body).sid;
      return;
    }
    expectStatus(res, [400], `redeem a ${c.state} code`);
    assert.equal(res.body.error, 'invalid_grant');
    if (c.state === 'used' && c.sid) {
      // RFC 6749 §4.1.2: the code's own client presenting it again ends the session it started.
      const f = m.families.find((x) => x.sid === c.sid);
      if (f && !f.ended) {
        await assertDurable(r, f.sid);
        endFamily(m, f);
      }
    }
  }
  toString() {
    return `Redeem(k${this.index})`;
  }
}

export type Which = 'current' | 'previous' | 'older';

function tokenOf(f: FamilyModel, which: Which, salt: number): string {
  if (which === 'previous' && f.previous) return f.previous;
  if (which === 'older' && f.older.length > 0) return f.older[salt % f.older.length] as string;
  return f.current;
}

export class Refresh extends OnFamily {
  constructor(
    index: number,
    readonly which: Which,
    readonly salt: number,
  ) {
    super(index);
  }
  async step(m: Model, r: Real) {
    const f = this.family(m);
    const token = tokenOf(f, this.which, this.salt);
    const expected = expectRefresh(m, f, token);
    const res = await refresh(r.server.s, client(r, f.client), token);
    if (expected === 'rotated' || expected === 'leeway') {
      expectStatus(res, [200], `refresh (${expected})`);
      checkGranted(m, f, res.body);
      applyRefresh(m, f, token, res.body);
      return;
    }
    expectStatus(res, [400], `refresh (${expected})`);
    assert.equal(res.body.error, 'invalid_grant');
    if (expected === 'reuse' || expected === 'client_changed') {
      // A spent token outside the leeway always kills its family (RFC 9700 §4.14.2).
      await assertDurable(r, f.sid);
      endFamily(m, f);
    }
  }
  toString() {
    return `Refresh(f${this.index}, ${this.which})`;
  }
}

export class Revoke extends OnFamily {
  constructor(
    index: number,
    readonly which: Which,
    readonly salt: number,
  ) {
    super(index);
  }
  async step(m: Model, r: Real) {
    const f = this.family(m);
    const res = await revoke(r.server.s, client(r, f.client), tokenOf(f, this.which, this.salt));
    expectStatus(res, [200], 'revoke');
    await assertDurable(r, f.sid);
    endFamily(m, f);
  }
  toString() {
    return `Revoke(f${this.index}, ${this.which})`;
  }
}

/** The newest access token of the family, when /logout can take it (aud has the ISSUER, not expired). */
function logoutToken(m: Model, f: FamilyModel): string | undefined {
  const latest = f.access.at(-1) as string;
  const exp = (decodeJwt(latest).exp as number) * 1000;
  return audienceOf(latest).includes(ISSUER) && exp > m.now + 2000 ? latest : undefined;
}

export class Logout extends OnFamily {
  override async check(m: Readonly<Model>) {
    return m.families.length > 0 && logoutToken(m as Model, this.family(m as Model)) !== undefined;
  }
  async step(m: Model, r: Real) {
    const f = this.family(m);
    const status = await logout(r.server.s, logoutToken(m, f) as string);
    if (f.ended || m.users[f.user]?.disabled) {
      assert.equal(status, 401, 'the access token of an ended session cannot log out');
      return;
    }
    assert.equal(status, 204, 'logout');
    await assertDurable(r, f.sid);
    endFamily(m, f);
  }
  toString() {
    return `Logout(f${this.index})`;
  }
}

/** Ends every session of the user: families, login sessions, pending codes (one transaction). */
function endedAll(m: Model, u: number) {
  for (const f of m.families) if (f.user === u) endFamily(m, f);
  for (const c of m.codes) if (c.user === u && c.state === 'pending') c.state = 'gone';
  (m.users[u] as Model['users'][number]).signedIn = false;
}

export class EndAllSessions extends Base {
  constructor(readonly user: number) {
    super();
  }
  async step(m: Model, r: Real) {
    const u = user(r, this.user);
    await r.server.s.services.refreshTokens.revokeUserSessions(u.id, { reason: 'admin' });
    for (const f of m.families) if (f.user === this.user && !f.ended) await assertDurable(r, f.sid);
    endedAll(m, this.user);
  }
  toString() {
    return `EndAllSessions(u${this.user})`;
  }
}

export class DisableUser extends Base {
  constructor(readonly user: number) {
    super();
  }
  async step(m: Model, r: Real) {
    await r.server.s.services.userAccounts.disable({ id: user(r, this.user).id });
    for (const f of m.families) if (f.user === this.user && !f.ended) await assertDurable(r, f.sid);
    endedAll(m, this.user);
    (m.users[this.user] as Model['users'][number]).disabled = true;
  }
  toString() {
    return `DisableUser(u${this.user})`;
  }
}

export type ClientChangeKind = 'drop_write' | 'drop_api' | 'move_away';

/** An operator changes the client: a scope or an audience removed (src/sessions/bounds.ts). */
export class ClientChange extends Base {
  constructor(
    readonly client: number,
    readonly kind: ClientChangeKind,
  ) {
    super();
  }
  async step(m: Model, r: Real) {
    const c = m.clients[this.client] as Model['clients'][number];
    const update =
      this.kind === 'drop_write'
        ? { scopes: ['read'] }
        : this.kind === 'drop_api'
          ? {
              audiences: c.audiences.filter((a) => a !== API).length
                ? c.audiences.filter((a) => a !== API)
                : [ISSUER],
            }
          : { audiences: [OTHER] };
    await r.server.s.services.clientAccounts.update(client(r, this.client).client_id, update);
    if (update.scopes) c.scopes = update.scopes;
    if (update.audiences) c.audiences = update.audiences;
  }
  toString() {
    return `ClientChange(c${this.client}, ${this.kind})`;
  }
}

export class RotateKeys extends Base {
  async step(_m: Model, r: Real) {
    await r.server.s.services.keyLifecycle.rotate({ force: true });
  }
  toString() {
    return 'RotateKeys';
  }
}

export class Advance extends Base {
  constructor(readonly seconds: number) {
    super();
  }
  async step(m: Model, r: Real) {
    r.server.clock.advance(this.seconds);
    m.now = r.server.clock.now();
  }
  toString() {
    return `Advance(${this.seconds}s)`;
  }
}

export type RaceOp = 'refresh' | 'previous' | 'revoke' | 'logout';

interface RaceAnswer {
  op: RaceOp;
  token: string;
  status: number;
  body: Record<string, unknown>;
}

/**
 * Several requests on one session at once (two refreshes of one token; refresh against revoke or
 * logout). No interleaving is predicted; what every interleaving must satisfy is checked, and the
 * model learns the winner from Postgres.
 */
export class Race extends OnFamily {
  constructor(
    index: number,
    readonly ops: RaceOp[],
  ) {
    super(index);
  }
  async step(m: Model, r: Real) {
    const { s } = r.server;
    const f = this.family(m);
    const cl = client(r, f.client);
    const live = familyLive(m, f) && m.now < f.currentExpiresAt && bounds(m, f).audience.length > 0;
    const lt = logoutToken(m, f);
    const ops = this.ops.map((op) => (op === 'logout' && !lt ? 'revoke' : op));
    const run = (op: RaceOp) => async (): Promise<RaceAnswer> => {
      if (op === 'logout') {
        const status = await logout(s, lt as string);
        return { op, token: '', status, body: {} };
      }
      const token = op === 'previous' ? (f.previous ?? f.current) : f.current;
      const res = op === 'revoke' ? await revoke(s, cl, token) : await refresh(s, cl, token);
      return { op, token, status: res.status, body: res.body };
    };
    const answers = await race(r, ops.map(run), ops);

    for (const a of answers) {
      if (a.op === 'revoke') expectStatus(a, [200], 'revoke in a race');
      else if (a.op === 'logout') expectStatus(a, [204, 401], 'logout in a race');
      else {
        expectStatus(a, [200, 400], `${a.op} in a race`);
        if (a.status === 400) assert.equal(a.body.error, 'invalid_grant');
      }
    }
    const ok = answers.filter((a) => (a.op === 'refresh' || a.op === 'previous') && a.status === 200);
    for (const a of ok) checkGranted(m, f, a.body);
    const row = await s.services.db('refresh_families').where({ id: f.sid }).first('revoked_at');
    const revoked = row?.revoked_at != null;

    const ending = answers.some((a) => a.op === 'revoke' || (a.op === 'logout' && a.status === 204));
    if (ending) assert.ok(revoked, 'a refresh racing a revocation never outlives it');
    const presented = ops.filter((op) => op === 'refresh' || (op === 'previous' && f.previous));
    const sameToken = ops.filter((op) => op === 'refresh' || (op === 'previous' && !f.previous)).length;
    if (live && !ending && sameToken >= 2) {
      if ((m.clients[f.client]?.leeway ?? 0) === 0) {
        // Two uses of one token without leeway: one winner, and the loser's use is reuse.
        assert.ok(revoked, 'two uses of one token without leeway end the session');
        assert.ok(ok.length <= 1, 'at most one winner');
      } else if (presented.length === sameToken) {
        // With the leeway, the second use of the same token is a retry: both answered, one live.
        assert.ok(!revoked, 'a retry within the leeway keeps the session');
        assert.equal(ok.length, sameToken, 'every retry within the leeway is answered');
      }
    }
    if (!live && !ending)
      assert.equal(ok.length, 0, 'a session that cannot refresh yields nothing in a race');

    // Learn the interleaving's result from Postgres.
    for (const a of ok) f.access.push(a.body.access_token as string);
    if (revoked) {
      if (!f.ended) await assertDurable(r, f.sid);
      endFamily(m, f);
      return;
    }
    const unspent = await s.services.db('refresh_tokens').where({ family_id: f.sid }).whereNull('spent_at');
    assert.equal(unspent.length, 1, 'one unspent token after the race');
    const winner = ok.find((a) => sha256(a.body.refresh_token as string) === unspent[0].token_hash);
    if (!winner) {
      assert.equal(unspent[0].token_hash, sha256(f.current), 'no winner: the token is unchanged');
      return;
    }
    const b = bounds(m, f);
    const spent = new Set([f.current, ...(f.previous ? [f.previous] : []), ...f.older]);
    const wasCurrent = winner.token === f.current;
    spent.delete(winner.token);
    f.older = [...spent, ...ok.filter((a) => a !== winner).map((a) => a.body.refresh_token as string)];
    if (wasCurrent) f.previousSpentAt = m.now;
    f.previous = winner.token;
    f.current = winner.body.refresh_token as string;
    f.currentExpiresAt = Math.min(m.now + SETTINGS.idleTtl * 1000, f.expiresAt);
    f.scope = b.scope;
    f.audience = b.audience;
    // The winner's access token last, so the live-token check uses it.
    f.access.push(winner.body.access_token as string);
  }
  toString() {
    return `Race(f${this.index}, ${this.ops.join(' ∥ ')})`;
  }
}

/** Two redemptions of one code at once: at most one answer, and no session survives it. */
export class RaceRedeem extends Base {
  constructor(readonly index: number) {
    super();
  }
  override check(m: Readonly<Model>) {
    return Promise.resolve(m.codes.some((c) => redeemable(m, c)));
  }
  async step(m: Model, r: Real) {
    const fresh = m.codes.filter((c) => redeemable(m, c));
    const c = pick(fresh, this.index) as CodeModel;
    const answers = await race(r, [() => redeem(r, c), () => redeem(r, c)], ['redeem', 'redeem']);
    for (const a of answers) expectStatus(a, [200, 400], 'redeem in a race');
    assert.ok(answers.filter((a) => a.status === 200).length <= 1, 'a code works once');
    c.state = 'used';
    c.sid = await codeFamily(r, c);
    const winner = answers.find((a) => a.status === 200);
    if (winner) {
      const f = startFamily(m, c.client, c.user, winner.body);
      assert.equal(f.sid, c.sid);
    }
    if (c.sid) {
      const row = await r.server.s.services.db('refresh_families').where({ id: c.sid }).first();
      if (row) {
        // The first redemption's session ends with the replay (RFC 6749 §4.1.2).
        assert.ok(row.revoked_at, 'a code redeemed twice at once leaves no live session');
        const f = m.families.find((x) => x.sid === c.sid);
        // Every answer was refused, but the session existed (and was ended): nobody holds a token.
        if (f) endFamily(m, f);
        else m.orphans.push(c.sid);
      }
    }
  }
  toString() {
    return `RaceRedeem(k${this.index})`;
  }
}

const idx = fc.nat({ max: 50 });
const u = fc.constantFrom(0, 1);
const c = fc.constantFrom(0, 1);
const which = fc.constantFrom<Which>('current', 'current', 'previous', 'older');

/** The command arbitraries, weighted so that sessions live long enough to be interesting; `concurrent` adds the races. */
export function commandArbitraries(concurrent: boolean): fc.Arbitrary<Cmd>[] {
  const weighted: { arbitrary: fc.Arbitrary<Cmd>; weight: number }[] = [
    { weight: 4, arbitrary: fc.tuple(u, c).map(([a, b]) => new PasswordLogin(a, b)) },
    { weight: 2, arbitrary: fc.tuple(u, c).map(([a, b]) => new Authorize(a, b)) },
    { weight: 2, arbitrary: idx.map((i) => new Redeem(i)) },
    { weight: 10, arbitrary: fc.tuple(idx, which, idx).map(([i, w, sa]) => new Refresh(i, w, sa)) },
    { weight: 1, arbitrary: fc.tuple(idx, which, idx).map(([i, w, sa]) => new Revoke(i, w, sa)) },
    { weight: 1, arbitrary: idx.map((i) => new Logout(i)) },
    { weight: 1, arbitrary: u.map((i) => new EndAllSessions(i)) },
    { weight: 1, arbitrary: u.map((i) => new DisableUser(i)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(c, fc.constantFrom<ClientChangeKind>('drop_write', 'drop_api', 'move_away'))
        .map(([i, k]) => new ClientChange(i, k)),
    },
    { weight: 1, arbitrary: fc.constant(new RotateKeys()) },
    { weight: 3, arbitrary: fc.constantFrom(1, 10, 35, 130).map((sec) => new Advance(sec)) },
  ];
  if (concurrent) {
    const op = fc.constantFrom<RaceOp>('refresh', 'refresh', 'previous', 'revoke', 'logout');
    weighted.push(
      {
        weight: 3,
        arbitrary: fc
          .tuple(idx, fc.array(op, { minLength: 2, maxLength: 3 }))
          .map(([i, ops]) => new Race(i, ops)),
      },
      { weight: 3, arbitrary: idx.map((i) => new Race(i, ['refresh', 'refresh'])) },
      { weight: 1, arbitrary: idx.map((i) => new RaceRedeem(i)) },
    );
  }
  return [fc.oneof(...weighted)];
}
