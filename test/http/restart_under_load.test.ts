import test, { type ExecutionContext } from 'ava';
import { connectDatabase } from '../../src/db/connect.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { type AdminCaller, adminCaller } from '../helpers/admin.js';
import { startServer, type TestServer } from '../helpers/app.js';
import {
  basic,
  createClient,
  createUser,
  getJson,
  passwordLogin,
  postForm,
  type TestClient,
} from '../helpers/oauth.js';
import { refresh, revoke } from '../helpers/sessions.js';
import { postgresBinDir, ThrowawayPostgres } from '../helpers/throwaway_postgres.js';

// The outage contract (docs/scaling.md, outage table): a database restart under load is answered
// with 503 temporarily_unavailable and Retry-After while it lasts, never 500, and the process
// recovers on its own. Every route kind runs concurrently while the throwaway Postgres is stopped
// the two ways `pg_ctl -m fast|immediate restart` stops it and started again.

const bin = postgresBinDir();
const ROUNDS = Number(process.env.RESTART_ROUNDS ?? 2);
const WORKERS = 6;
/** How long Postgres stays down in each round, under load. */
const DOWN_MS = 1200;

type Route =
  | 'password'
  | 'refresh'
  | 'client_credentials'
  | 'introspect'
  | 'revoke'
  | 'logout'
  | 'admin'
  | 'readyz';
const ROUTES: Route[] = [
  'password',
  'refresh',
  'client_credentials',
  'introspect',
  'introspect',
  'revoke',
  'logout',
  'admin',
  'readyz',
];
const ADMIN_READS = ['/admin/users', '/admin/clients', '/admin/audit', '/admin/keys'];

interface Answer {
  route: string;
  status: number;
  retryAfter: string | null;
  body: string;
}

interface Session {
  access: string;
  refresh: string;
}

interface Rig {
  s: TestServer;
  app: TestClient;
  rs: TestClient;
  admin: AdminCaller;
  users: { username: string; password: string }[];
}

/** One request of `route`; the answer is kept whatever it is. */
async function call(rig: Rig, route: Route, sessions: Session[], tokens: string[]): Promise<Answer> {
  const { s, app, rs, admin } = rig;
  const answer = async (r: string, res: Response | { status: number; headers: Headers; body: unknown }) => ({
    route: r,
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: res instanceof Response ? await res.text() : JSON.stringify(res.body),
  });
  const take = () => sessions.splice(Math.floor(Math.random() * sessions.length), 1)[0];
  switch (route) {
    case 'password': {
      const user = rig.users[Math.floor(Math.random() * rig.users.length)] as Rig['users'][number];
      const res = await passwordLogin(s, app, user.username, user.password);
      if (res.status === 200) {
        sessions.push({ access: res.body.access_token as string, refresh: res.body.refresh_token as string });
        tokens.push(res.body.access_token as string);
      }
      return answer(route, res);
    }
    case 'refresh': {
      const session = take();
      if (!session) return call(rig, 'password', sessions, tokens);
      const res = await refresh(s, app, session.refresh);
      if (res.status === 200) {
        session.access = res.body.access_token as string;
        session.refresh = res.body.refresh_token as string;
        tokens.push(session.access);
      }
      // An outage leaves the old token valid: a real client retries with it.
      if (res.status === 200 || res.status >= 500) sessions.push(session);
      return answer(route, res);
    }
    case 'client_credentials': {
      const res = await postForm(
        `${s.url}/token`,
        { grant_type: 'client_credentials' },
        { authorization: basic(rs.client_id, rs.client_secret ?? '') },
      );
      return answer(route, res);
    }
    case 'introspect': {
      const token = tokens[Math.floor(Math.random() * tokens.length)];
      if (!token) return call(rig, 'password', sessions, tokens);
      const res = await postForm(
        `${s.url}/introspect`,
        { token },
        { authorization: basic(rs.client_id, rs.client_secret ?? '') },
      );
      return answer(route, res);
    }
    case 'revoke': {
      const session = take();
      if (!session) return call(rig, 'password', sessions, tokens);
      const res = await revoke(s, app, session.refresh, { token_type_hint: 'refresh_token' });
      if (res.status !== 200) sessions.push(session);
      return answer(route, res);
    }
    case 'logout': {
      const session = take();
      if (!session) return call(rig, 'password', sessions, tokens);
      const res = await fetch(`${s.url}/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.access}` },
      });
      if (res.status !== 204) sessions.push(session);
      return answer(route, res);
    }
    case 'admin': {
      const path = ADMIN_READS[Math.floor(Math.random() * ADMIN_READS.length)] as string;
      const res = await admin.call('GET', path);
      return answer(`GET ${path}`, res);
    }
    case 'readyz':
      return answer(route, await getJson(`${s.url}/readyz`));
  }
}

/** Workers each running the route kinds in turn until `stop()`; every answer is recorded. */
function load(rig: Rig) {
  const answers: Answer[] = [];
  const networkErrors: string[] = [];
  const sessions: Session[] = [];
  const tokens: string[] = [];
  let running = true;
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    for (let i = w; running; i++) {
      const route = ROUTES[i % ROUTES.length] as Route;
      try {
        answers.push(await call(rig, route, sessions, tokens));
      } catch (err) {
        networkErrors.push(`${route}: ${(err as Error).message}`);
      }
      if (tokens.length > 200) tokens.splice(0, 100);
    }
  });
  return {
    answers,
    networkErrors,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

async function recovered(rig: Rig, deadlineMs: number): Promise<number> {
  const started = Date.now();
  const user = rig.users[0] as Rig['users'][number];
  while (Date.now() - started < deadlineMs) {
    const ready = await getJson(`${rig.s.url}/readyz`);
    if (
      ready.status === 200 &&
      (await passwordLogin(rig.s, rig.app, user.username, user.password)).status === 200
    )
      return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  return -1;
}

/**
 * The limits are raised (as the bench raises them) so a long run is answered by the stores, not
 * with 429; every limiter call still runs against its store, through the outage too.
 */
const UNTHROTTLED = {
  RATE_LIMIT_CLIENT_PER_MINUTE: '100000000',
  RATE_LIMIT_LOGIN_FAILURES: '1000000',
  RATE_LIMIT_IP_FAILURES_PER_HOUR: '10000000',
};

async function restartUnderLoad(t: ExecutionContext, mode: Record<string, string>) {
  const env = { ...UNTHROTTLED, ...mode };
  const pg = new ThrowawayPostgres(bin as string);
  t.teardown(() => pg.destroy());
  await pg.init();
  await pg.start();
  const db = connectDatabase({ url: pg.url, dataDir: null });
  await migrateLatest(db);
  const s = await startServer({ database: { db, url: pg.url, drop: () => db.destroy() }, env });
  t.teardown(() => s.close());
  const serverErrors: string[] = [];
  s.services.events.on('server.error', ({ err, route }) =>
    serverErrors.push(`${route}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
  );
  const app = await createClient(s, { name: 'app', grantTypes: ['password', 'refresh_token'] });
  const rs = await createClient(s, {
    name: 'resource server',
    grantTypes: ['client_credentials'],
    canIntrospect: true,
  });
  const admin = await adminCaller(s);
  const users = await Promise.all([1, 2, 3, 4].map(() => createUser(s, 'restart')));
  const rig: Rig = { s, app, rs, admin, users };

  const traffic = load(rig);
  const recoveries: number[] = [];
  await new Promise((r) => setTimeout(r, 500));
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ['fast', 'immediate'] as const) {
      await pg.stop(mode);
      await new Promise((r) => setTimeout(r, DOWN_MS));
      await pg.start();
      recoveries.push(await recovered(rig, 20_000));
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  await traffic.stop();

  const { answers } = traffic;
  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
  for (const e of new Set(serverErrors.map((e) => e.split('\n').slice(0, 12).join('\n')))) t.log(e);
  t.log(`answers ${answers.length}, statuses ${JSON.stringify(statuses)}, recoveries ms ${recoveries}`);
  const bad = answers.filter((a) => a.status >= 500 && a.status !== 503);
  t.deepEqual(
    bad.map((a) => `${a.route} ${a.status} ${a.body}`),
    [],
    'no 5xx other than 503',
  );
  t.deepEqual(serverErrors, [], 'no unexpected error reached the error handler');
  // /readyz is a probe, not an API answer: its 503 is the "unready" signal itself.
  const bare = answers.filter((a) => a.status === 503 && a.route !== 'readyz' && !a.retryAfter);
  t.deepEqual(
    bare.map((a) => `${a.route} ${a.body}`),
    [],
    'every 503 has Retry-After',
  );
  t.true(
    answers.some((a) => a.status === 503 && a.route !== 'readyz'),
    'the restarts were seen as outages',
  );
  t.false(recoveries.includes(-1), `recovered without a restart of the server: ${recoveries}`);
  t.deepEqual(traffic.networkErrors, [], 'every request was answered');
}

(bin && process.env.REDIS_URL ? test.serial : test.serial.skip)(
  'Postgres restarts (fast and immediate) under load, Redis mode: only 503 with Retry-After, then recovery [needs PostgreSQL binaries, REDIS_URL]',
  (t) => restartUnderLoad(t, {}),
);

(bin ? test.serial : test.serial.skip)(
  'Postgres restarts (fast and immediate) under load, Postgres-only mode: only 503 with Retry-After, then recovery [needs PostgreSQL binaries]',
  (t) => restartUnderLoad(t, { REDIS_URL: '', REDIS_CLUSTER_NODES: '' }),
);
