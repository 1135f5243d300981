import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Services } from '../compose.js';
import type { CliIo } from './io.js';
import { runCli } from './main.js';

/**
 * The embedded server's admin channel (docs/cli.md#a-running-embedded-server): the CLI hands its
 * command to the server that holds the database, instead of asking the operator to stop it.
 *
 * Who may connect is decided by the file system: the socket is mode 0600 inside DATA_DIR, which
 * Tessera keeps 0700 (db/data_dir.ts), so only the owner of DATA_DIR (and root) can reach it —
 * the same people who could open the database files directly. There is no token to leak.
 */
export const ADMIN_SOCKET_NAME = 'admin.sock';

export const adminSocketPath = (dataDir: string) => path.join(dataDir, ADMIN_SOCKET_NAME);

/** A request is one JSON line; nothing a command takes is anywhere near this. */
const MAX_REQUEST_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 120_000;

interface AdminRequest {
  argv: string[];
  /** What the CLI read from its stdin or prompt (a password), passed on as the command's stdin. */
  stdin: string;
}

interface AdminResponse {
  code: number;
  stdout: string;
  stderr: string;
}

function readRequest(line: string): AdminRequest | undefined {
  try {
    const r = JSON.parse(line) as Partial<AdminRequest>;
    if (!Array.isArray(r.argv) || !r.argv.every((a) => typeof a === 'string')) return undefined;
    return { argv: r.argv, stdin: typeof r.stdin === 'string' ? r.stdin : '' };
  } catch {
    return undefined;
  }
}

async function runForClient(request: AdminRequest, services: Services): Promise<AdminResponse> {
  let stdout = '';
  let stderr = '';
  const out = new PassThrough().on('data', (c) => {
    stdout += c;
  });
  const err = new PassThrough().on('data', (c) => {
    stderr += c;
  });
  const stdin = new PassThrough();
  stdin.end(request.stdin === '' ? '' : `${request.stdin}\n`);
  const code = await runCli(request.argv, { stdin, stdout: out, stderr: err }, {}, { services });
  return { code, stdout, stderr };
}

/** Listens on DATA_DIR/admin.sock (0600) while the embedded server runs; removed at exit. */
export async function listenAdminSocket(services: Services, dataDir: string): Promise<Server> {
  const socketPath = adminSocketPath(dataDir);
  // A socket left by a killed server: this process holds the database lock, so it is stale.
  if (existsSync(socketPath)) unlinkSync(socketPath);
  const server = createServer((conn) => {
    conn.setTimeout(REQUEST_TIMEOUT_MS, () => conn.destroy());
    let buffered = '';
    conn.setEncoding('utf8');
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST_BYTES) {
        conn.destroy();
        return;
      }
      const end = buffered.indexOf('\n');
      if (end < 0) return;
      conn.removeAllListeners('data');
      const request = readRequest(buffered.slice(0, end));
      const answer = request
        ? runForClient(request, services)
        : Promise.resolve({ code: 2, stdout: '', stderr: 'tessera: malformed admin socket request\n' });
      void answer
        .catch((e: unknown) => ({
          code: 1,
          stdout: '',
          stderr: `tessera: failed: ${e instanceof Error ? e.message : String(e)}\n`,
        }))
        .then((response) => conn.end(`${JSON.stringify(response)}\n`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  const remove = () => {
    try {
      unlinkSync(socketPath);
    } catch {
      // Already gone.
    }
  };
  server.on('close', remove);
  process.once('exit', remove);
  services.log.info(
    { socket: socketPath },
    'admin socket listening (tessera CLI commands reach this server)',
  );
  return server;
}

/**
 * The CLI side: sends the command to the running server. Undefined when no server answers there
 * (no socket, or a stale one), so the CLI opens the database itself as usual.
 */
export async function sendToServer(
  socketPath: string,
  argv: string[],
  stdin: string,
  io: CliIo,
): Promise<number | undefined> {
  if (!existsSync(socketPath)) return undefined;
  const response = await new Promise<AdminResponse | undefined>((resolve, reject) => {
    const conn = createConnection(socketPath);
    let data = '';
    let connected = false;
    conn.setEncoding('utf8');
    conn.on('connect', () => {
      connected = true;
      conn.write(`${JSON.stringify({ argv, stdin } satisfies AdminRequest)}\n`);
    });
    conn.on('data', (c: string) => {
      data += c;
    });
    conn.on('end', () => {
      try {
        resolve(JSON.parse(data) as AdminResponse);
      } catch {
        reject(new Error('the running server gave no answer on its admin socket'));
      }
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && (err.code === 'ECONNREFUSED' || err.code === 'ENOENT')) resolve(undefined);
      else reject(err);
    });
  });
  if (!response) return undefined;
  io.stdout.write(response.stdout);
  io.stderr.write(response.stderr);
  return response.code;
}
