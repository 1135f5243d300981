import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/** True when the redis-server binary is installed (tests that start their own Redis need it). */
export const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

/** A free loopback TCP port (bound and released; good enough for a test). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** redis-cli's arguments for a server started with `--requirepass` (no warning on stderr). */
const cliAuth = (password: string | undefined) => (password ? ['-a', password, '--no-auth-warning'] : []);

async function waitForPing(port: number, timeoutMs = 10_000, password?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...cliAuth(password), 'ping'], {
      encoding: 'utf8',
    });
    if (r.stdout?.trim() === 'PONG') return;
    if (Date.now() > deadline) throw new Error(`redis on ${port} did not start`);
    await sleep(50);
  }
}

export interface LocalRedis {
  port: number;
  url: string;
  /** Kills the server (SIGKILL: a crash, not a clean shutdown). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (no persistence). */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that accepts connections but never answers (a hung node). */
  pause(): void;
  resume(): void;
}

function spawnRedis(port: number, extra: string[] = []): ChildProcess {
  return spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      ...extra,
    ],
    { stdio: 'ignore' },
  );
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** Options of a throwaway Redis: `password` starts it with `--requirepass`. */
export interface LocalRedisOptions {
  password?: string;
}

const requirePass = (password: string | undefined) => (password ? ['--requirepass', password] : []);

/** A throwaway redis-server on a free loopback port, without persistence. */
export async function startRedis(options: LocalRedisOptions = {}): Promise<LocalRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const handle: LocalRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      await kill(child);
      child = undefined;
    },
    async start() {
      child = spawnRedis(port, requirePass(options.password));
      await waitForPing(port, undefined, options.password);
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
  };
  await handle.start();
  return handle;
}

export interface LocalCluster {
  nodes: string[];
  stop(): Promise<void>;
}

/** A 3-master Redis Cluster on free loopback ports (no replicas), for REDIS_CLUSTER_NODES tests. */
export async function startCluster(options: LocalRedisOptions = {}): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const children = ports.map((p) =>
    spawnRedis(p, [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, `nodes-${p}.conf`),
      '--dir',
      dir,
      '--cluster-node-timeout',
      '2000',
      ...requirePass(options.password),
    ]),
  );
  const stop = async () => {
    await Promise.all(children.map(kill));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const p of ports) await waitForPing(p, undefined, options.password);
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    const created = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes,
        '--cluster-replicas',
        '0',
        '--cluster-yes',
        ...cliAuth(options.password),
      ],
      { encoding: 'utf8' },
    );
    if (created.status !== 0) throw new Error(`cluster create failed: ${created.stdout}${created.stderr}`);
    const deadline = Date.now() + 15_000;
    for (const p of ports) {
      for (;;) {
        const info = spawnSync(
          'redis-cli',
          ['-p', String(p), ...cliAuth(options.password), 'cluster', 'info'],
          {
            encoding: 'utf8',
          },
        );
        if (info.stdout.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error('cluster did not become ok');
        await sleep(100);
      }
    }
    return { nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Deletes every key under a prefix (SCAN, never FLUSHALL: other test files share the Redis). */
export async function deletePrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
