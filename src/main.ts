import cluster from 'node:cluster';
import type { Server } from 'node:http';
import { createApp, createOpsApp } from './app.js';
import { listenAdminSocket } from './cli/admin_socket.js';
import { runPrimary } from './cluster.js';
import { buildServices } from './compose.js';
import { type Config, ConfigError, deploymentMode, isEmbedded, loadConfig } from './config.js';
import { connectionBudgetError } from './db/connection_budget.js';
import { EmbeddedDatabaseBusy } from './db/embedded_lock.js';
import { createLogger, flushLog } from './observability.js';
import { formatDemoCredentials, seedDemo } from './seed.js';

type Services = Awaited<ReturnType<typeof buildServices>>;

/** Stops the process with one line naming what is wrong (docs/configuration.md). */
function refuse(prefix: string, message: string): never {
  process.stderr.write(`tessera: ${prefix}: ${message}\n`);
  process.exit(1);
}

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) refuse('invalid configuration', err.message);
    throw err;
  }
}

/**
 * The primary's checks before anything opens: the Postgres connection budget of every process.
 * Returns true when this process became the node:cluster primary (cluster.ts) and serves nothing.
 */
async function becomePrimary(config: Config): Promise<boolean> {
  if (!cluster.isPrimary || !config.databaseUrl) return false;
  // The Postgres-only mode adds one LISTEN connection per process (docs/scaling.md).
  const listener = deploymentMode(config) === 'postgres' ? 1 : 0;
  const budget = await connectionBudgetError(
    config.databaseUrl,
    config.workers,
    config.databasePoolMax,
    listener,
  );
  if (budget) refuse('invalid configuration', budget);
  if (config.workers <= 1) return false;
  runPrimary({
    workers: config.workers,
    log: createLogger(config.logLevel),
    workerDeadlineMs: (config.shutdownDelay + config.shutdownTimeout) * 1000,
  });
  return true;
}

async function startServices(config: Config): Promise<Services> {
  let services: Services;
  try {
    services = await buildServices(config);
  } catch (err) {
    const message =
      err instanceof EmbeddedDatabaseBusy ? err.message : err instanceof Error ? err.message : String(err);
    refuse('cannot start', message);
  }
  if (isEmbedded(config)) {
    // PGlite and the in-process denylist, limits and key signals belong to one process.
    if (process.env.WORKERS)
      services.log.warn(
        { workers: config.workers },
        'WORKERS is ignored: the embedded mode runs one process',
      );
    const demo = await seedDemo(services, config.issuer);
    if (demo) process.stdout.write(`${formatDemoCredentials(demo, config.issuer)}\n`);
    // The CLI reaches this process through DATA_DIR/admin.sock instead of the held database.
    await listenAdminSocket(services, config.dataDir).catch((err: Error) =>
      // A DATA_DIR path too long for a Unix socket (about 100 bytes) must not stop the server.
      services.log.warn({ err: err.message }, 'no admin socket: stop the server to use the CLI'),
    );
  }
  return services;
}

function listenPublic(services: Services, config: Config, started: number): Server {
  const server: Server = createApp(services).listen(config.port, config.host);
  server.on('listening', () => {
    services.log.info(
      {
        address: `http://${config.host}:${config.port}`,
        issuer: config.issuer,
        startupMs: Date.now() - started,
      },
      'tessera listening',
    );
    // The log buffers its lines (observability.ts): what start-up said (the mode, warnings such as
    // CIMD_ALLOW_LOOPBACK or an ignored WORKERS) reaches the operator now, not after a second.
    void flushLog(services.log);
  });
  server.on('error', (err) => {
    services.log.fatal({ err: err.message }, 'cannot listen');
    void services.close().finally(() => process.exit(1));
  });
  // Slow clients must not hold sockets forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  keepConnectionsAlive(server, config);
  return server;
}

/**
 * Node closes an idle keep-alive connection after 5 s by default, while load balancers and client
 * pools keep theirs longer (and Node's own Agent ignores the server's Keep-Alive hint unless it
 * has a timeout of its own): a request sent as the server closes the socket dies with "socket
 * hang up". So the server keeps idle connections longer than the side that reuses them
 * (docs/configuration.md, KEEP_ALIVE_TIMEOUT). Not bounded by headersTimeout: since Node 18 that
 * counts from a request's first byte, not from the last response.
 */
function keepConnectionsAlive(server: Server, config: Config): void {
  server.keepAliveTimeout = config.keepAliveTimeout * 1000;
}

/**
 * While draining, every answer says `Connection: close`: keep-alive clients move to another
 * instance after their current request instead of finding their idle connection closed under
 * them when the listener stops. Added on SIGTERM only, so it costs nothing before.
 */
function closeConnectionsAfterEachAnswer(server: Server): void {
  server.prependListener('request', (_req, res) => {
    res.setHeader('Connection', 'close');
  });
}

/**
 * Graceful shutdown on SIGTERM/SIGINT (docs/monitoring.md, shutdown): /readyz answers 503 at once
 * and new requests are still served for SHUTDOWN_DELAY, so a load balancer can take the instance
 * out of rotation; then the listeners stop accepting, requests in flight finish and the backends
 * close. Requests still running after SHUTDOWN_TIMEOUT are cut off and the exit code is 1, so a
 * forced stop is visible to whoever supervises the process.
 */
function stopOnSignals(services: Services, server: Server, ops: Server | undefined): void {
  const { shutdownDelay, shutdownTimeout } = services.config;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    services.drain.start();
    closeConnectionsAfterEachAnswer(server);
    if (ops) closeConnectionsAfterEachAnswer(ops);
    services.log.info({ signal, shutdownDelay, shutdownTimeout }, 'shutting down: not ready, draining');
    // Never hang a deploy: force the exit if requests linger.
    setTimeout(
      () => {
        services.log.warn({ shutdownTimeout }, 'requests still in flight at SHUTDOWN_TIMEOUT: forced exit');
        process.exit(1);
      },
      (shutdownDelay + shutdownTimeout) * 1000,
    ).unref();
    setTimeout(() => {
      ops?.close();
      server.close(() => {
        void services.close().then(() => process.exit(0));
      });
      // Keep-alive connections with no request in flight would hold close() open.
      server.closeIdleConnections();
      ops?.closeIdleConnections();
    }, shutdownDelay * 1000);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * Process entry: config → services → app → listen; graceful shutdown on SIGTERM/SIGINT. With
 * `WORKERS=n` in a production mode this process is the node:cluster primary (cluster.ts) and every
 * worker runs the rest of this function.
 */
async function main(): Promise<void> {
  const config = readConfig();
  if (await becomePrimary(config)) return;
  const started = Date.now();
  const services = await startServices(config);
  const server = listenPublic(services, config, started);
  stopOnSignals(services, server, listenOps(services, config));
}

/** OPS_PORT: health and metrics on their own listener (same HOST), or nothing when unset. */
function listenOps(services: Services, config: Config): Server | undefined {
  if (config.opsPort === undefined) return undefined;
  const ops = createOpsApp(services).listen(config.opsPort, config.host);
  ops.on('listening', () =>
    services.log.info(
      { address: `http://${config.host}:${config.opsPort}` },
      'operations endpoints listening',
    ),
  );
  ops.on('error', (err) => {
    services.log.fatal({ err: err.message }, 'cannot listen on OPS_PORT');
    void services.close().finally(() => process.exit(1));
  });
  ops.requestTimeout = 10_000;
  keepConnectionsAlive(ops, config);
  return ops;
}

main().catch((err) => {
  process.stderr.write(`tessera: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
