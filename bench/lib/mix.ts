// The realistic request mix of the soak and chaos runs: introspection 60%, client_credentials 15%,
// refresh 15%, password 5%, revoke/logout 5%. State a real client keeps (access tokens to
// introspect, sessions with their newest refresh token, one refresh in flight per session) lives
// here, so every answer can be judged: anything but the expected status is an error.
import { decodeJwt } from 'jose';
import { type Answer, basic, postForm, request, type Seed } from './stack.js';

export type Route = 'introspect' | 'client_credentials' | 'refresh' | 'password' | 'revoke' | 'logout';

export const MIX: [Route, number][] = [
  ['introspect', 60],
  ['client_credentials', 15],
  ['refresh', 15],
  ['password', 5],
  ['revoke', 2.5],
  ['logout', 2.5],
];

/**
 * Sessions kept idle at the least. Logins add sessions at the rate revocations and logouts take
 * them, so the pool is a random walk that reaches zero within minutes; at zero every refresh would
 * turn into a login (four times the mix's logins), fill the login queue and be answered 503 by
 * design (docs/scaling.md). Below the floor a revocation or logout refreshes instead, so the mix
 * never sends more logins than its 5%.
 */
const SESSION_FLOOR = 50;

export interface Session {
  sid: string;
  refreshToken: string;
  accessToken: string;
  user: string;
}

export interface Outcome {
  route: Route;
  /** The instance that answered (index into the URLs). */
  target: number;
  status: number;
  ms: number;
  /** Not the status the route expects, or a network error. */
  error?: string;
  retryAfter?: string | undefined;
  /** A revocation the server acknowledged (revoke 200, logout 204). */
  revoked?: Session;
}

/** The client side of the mix: pools of tokens and sessions, one request at a time per session. */
export class Mix {
  private readonly tokens: string[] = [];
  private readonly idle: Session[] = [];
  private next = 0;
  constructor(
    private readonly seed: Seed,
    private readonly urls: string[],
    /** Sessions kept open (password logins top it up; revocations take from it). */
    private readonly maxSessions = 400,
    private readonly sessionFloor = SESSION_FLOOR,
  ) {}

  pick(): Route {
    let r = Math.random() * 100;
    for (const [route, weight] of MIX) {
      r -= weight;
      if (r < 0) return route;
    }
    return 'introspect';
  }

  private target(fixed?: number): number {
    if (fixed !== undefined) return fixed;
    this.next = (this.next + 1) % this.urls.length;
    return this.next;
  }

  private keep(token: string) {
    this.tokens.push(token);
    if (this.tokens.length > 500) this.tokens.splice(0, this.tokens.length - 500);
  }

  get sessions() {
    return this.idle.length;
  }

  /** Runs one request of `route` (a login when no session exists yet; SESSION_FLOOR). */
  async run(route: Route, fixedTarget?: number): Promise<Outcome> {
    const t = this.target(fixedTarget);
    const url = this.urls[t] as string;
    const { cc, rs, app } = this.seed;
    let r = route;
    if ((r === 'revoke' || r === 'logout') && this.idle.length <= this.sessionFloor) r = 'refresh';
    // Only before the first logins (the soak and chaos runs log in first): no session exists yet.
    if (r === 'refresh' && this.idle.length === 0) r = 'password';
    if (r === 'introspect' && this.tokens.length === 0) r = 'client_credentials';
    if (r === 'password' && this.idle.length >= this.maxSessions) r = 'refresh';
    const session = r === 'refresh' || r === 'revoke' || r === 'logout' ? this.take() : undefined;
    const judge = (res: Answer, expected: number): Outcome => ({
      route: r,
      target: t,
      status: res.status,
      ms: res.ms,
      ...(res.status === expected ? {} : { error: `${res.status} ${res.body.error ?? ''}` }),
      ...(res.status >= 500 ? { retryAfter: res.headers['retry-after'] as string | undefined } : {}),
    });
    const started = performance.now();
    try {
      switch (r) {
        case 'introspect': {
          const token = this.tokens[Math.floor(Math.random() * this.tokens.length)] as string;
          const res = await postForm(
            `${url}/introspect`,
            { token },
            { authorization: basic(rs.id, rs.secret) },
          );
          return judge(res, 200);
        }
        case 'client_credentials': {
          const res = await postForm(
            `${url}/token`,
            { grant_type: 'client_credentials' },
            { authorization: basic(cc.id, cc.secret) },
          );
          if (res.status === 200) this.keep(res.body.access_token as string);
          return judge(res, 200);
        }
        case 'password': {
          const user = this.seed.users[Math.floor(Math.random() * this.seed.users.length)] as string;
          const res = await postForm(
            `${url}/token`,
            { grant_type: 'password', username: user, password: this.seed.password },
            { authorization: basic(app.id, app.secret) },
          );
          if (res.status === 200) {
            const accessToken = res.body.access_token as string;
            this.keep(accessToken);
            this.idle.push({
              sid: decodeJwt(accessToken).sid as string,
              accessToken,
              refreshToken: res.body.refresh_token as string,
              user,
            });
          }
          return judge(res, 200);
        }
        case 'refresh': {
          const s = session as Session;
          const res = await postForm(
            `${url}/token`,
            { grant_type: 'refresh_token', refresh_token: s.refreshToken },
            { authorization: basic(app.id, app.secret) },
          );
          if (res.status === 200) {
            s.refreshToken = res.body.refresh_token as string;
            s.accessToken = res.body.access_token as string;
            this.keep(s.accessToken);
            this.idle.push(s);
          } else if (res.status >= 500) {
            // The answer may be lost after the commit: a real client retries with the same token.
            this.idle.push(s);
          }
          return judge(res, 200);
        }
        case 'revoke': {
          const s = session as Session;
          const res = await postForm(
            `${url}/revoke`,
            { token: s.refreshToken, token_type_hint: 'refresh_token' },
            { authorization: basic(app.id, app.secret) },
          );
          if (res.status !== 200) this.idle.push(s);
          return { ...judge(res, 200), ...(res.status === 200 ? { revoked: s } : {}) };
        }
        case 'logout': {
          const s = session as Session;
          const res = await request(`${url}/logout`, 'POST', { authorization: `Bearer ${s.accessToken}` });
          if (res.status !== 204) this.idle.push(s);
          return { ...judge(res, 204), ...(res.status === 204 ? { revoked: s } : {}) };
        }
      }
    } catch (err) {
      if (session) this.idle.push(session);
      return {
        route: r,
        target: t,
        status: 0,
        ms: performance.now() - started,
        error: (err as Error).message,
      };
    }
  }

  /** A session out of the pool (so no two requests use one session at once). */
  private take(): Session {
    const i = Math.floor(Math.random() * this.idle.length);
    const [s] = this.idle.splice(i, 1);
    return s as Session;
  }

  /** Sessions for a deliberate race (two instances spending one token at once). */
  takeSession(): Session | undefined {
    return this.idle.length ? this.take() : undefined;
  }
  giveBack(s: Session) {
    this.idle.push(s);
  }
}
