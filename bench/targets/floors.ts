// Floor targets: the bare cost of work Tessera's design must do, without Tessera.
//   pg      one refresh rotation as a plain transaction (BEGIN; UPDATE … RETURNING; INSERT; COMMIT)
//           on a table shaped like refresh_tokens, one connection per simulated client;
//   argon2  argon2id verifications with Tessera's parameters, at most as many at once as Tessera's
//           hashing queue runs (DEFAULT_HASHING_QUEUE.concurrency: cores − 1 with the launcher's
//           thread pool, which the bench gives this process too); the other connections wait;
//   argon2-all  the same with every connection's verification on the thread pool at once (every
//           core hashing): what the core Tessera keeps for its event loop would add.
// The parent sends { durationMs, connections } and gets the count and latencies back.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import argon2 from 'argon2';
import pg from 'pg';
import { DEFAULT_HASHING_QUEUE } from '../../src/tokens/hashing_queue.js';
import { DEFAULT_PASSWORD_HASHING } from '../../src/tokens/passwords.js';

const kind = process.argv[2];
const databaseUrl = process.argv[3];

interface Run {
  durationMs: number;
  connections: number;
}

const digest = (v: Buffer) => createHash('sha256').update(v).digest('base64url');

async function loop(connections: number, durationMs: number, once: (worker: number) => Promise<void>) {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: connections }, async (_, worker) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await once(worker);
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { latencies, errors, elapsedMs: performance.now() - start };
}

let pgClients: pg.Client[] = [];
let current: string[] = [];

async function preparePg(connections: number): Promise<void> {
  if (pgClients.length === connections) return;
  await Promise.all(pgClients.map((c) => c.end()));
  pgClients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      return c;
    }),
  );
  const [first] = pgClients;
  await first!.query(`
    CREATE TABLE IF NOT EXISTS bench_floor_tokens (
      id uuid PRIMARY KEY, family_id uuid NOT NULL, parent_id uuid, token_hash text NOT NULL UNIQUE,
      client_id text NOT NULL, created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
      spent_at timestamptz);
    CREATE INDEX IF NOT EXISTS bench_floor_tokens_family ON bench_floor_tokens (family_id);
    CREATE INDEX IF NOT EXISTS bench_floor_tokens_expiry ON bench_floor_tokens (expires_at);`);
  current = [];
  for (let i = 0; i < connections; i++) {
    const token = digest(randomBytes(32));
    await first!.query(
      `INSERT INTO bench_floor_tokens VALUES ($1, $2, NULL, $3, 'bench', now(), now() + interval '7 days', NULL)`,
      [randomUUID(), randomUUID(), token],
    );
    current.push(token);
  }
}

async function rotate(worker: number): Promise<void> {
  const c = pgClients[worker]!;
  const next = digest(randomBytes(32));
  await c.query('BEGIN');
  try {
    const spent = await c.query(
      `UPDATE bench_floor_tokens SET spent_at = now()
        WHERE token_hash = $1 AND spent_at IS NULL RETURNING id, family_id`,
      [current[worker]],
    );
    const row = spent.rows[0] as { id: string; family_id: string } | undefined;
    if (!row) throw new Error('floor token already spent');
    await c.query(
      `INSERT INTO bench_floor_tokens VALUES ($1, $2, $3, $4, 'bench', now(), now() + interval '7 days', NULL)`,
      [randomUUID(), row.family_id, row.id, next],
    );
    await c.query('COMMIT');
    current[worker] = next;
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  }
}

let storedHash: string | undefined;
async function verify(): Promise<void> {
  storedHash ??= await argon2.hash('correct horse battery', {
    type: argon2.argon2id,
    ...DEFAULT_PASSWORD_HASHING,
  });
  if (!(await argon2.verify(storedHash, 'correct horse battery'))) throw new Error('argon2 mismatch');
}

/** Verifications in flight at most (argon2: Tessera's; argon2-all: no bound but the pool's). */
const slots = kind === 'argon2' ? DEFAULT_HASHING_QUEUE.concurrency : Number.POSITIVE_INFINITY;
let inFlight = 0;
const waiting: (() => void)[] = [];
async function verifyInTurn(): Promise<void> {
  if (inFlight < slots) inFlight++;
  else await new Promise<void>((resolve) => waiting.push(resolve));
  try {
    await verify();
  } finally {
    // The slot passes straight to the next waiter, as in Tessera's queue.
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
  }
}

process.on('message', async (m: Run) => {
  if (kind === 'pg') await preparePg(m.connections);
  else await verify();
  const result = await loop(m.connections, m.durationMs, kind === 'pg' ? rotate : verifyInTurn);
  process.send?.(result);
});
process.on('disconnect', async () => {
  await Promise.all(pgClients.map((c) => c.end().catch(() => {})));
  process.exit(0);
});
process.send?.({ ready: true });
