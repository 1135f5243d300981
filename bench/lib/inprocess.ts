// Requests driven through a Koa app's callback without a network (bench/stack_inprocess.ts,
// bench/routes_inprocess.ts): a Node IncomingMessage/ServerResponse pair on a socket that
// discards what is written, so no kernel, loopback TCP or load generator shares the measurement.
import { IncomingMessage, type RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** A socket that takes every write and never reads; keeps what the last write began with. */
export class NullSocket extends Duplex {
  remoteAddress = '127.0.0.1';
  written = '';
  constructor(private readonly keep = 16) {
    super({ decodeStrings: false });
  }
  override _write(chunk: Buffer | string, _encoding: unknown, done: () => void) {
    this.written = String(chunk).slice(0, this.keep);
    done();
  }
  override _writev(chunks: { chunk: Buffer | string }[], done: () => void) {
    this.written = chunks
      .map((c) => String(c.chunk))
      .join('')
      .slice(0, this.keep);
    done();
  }
  override _read() {}
}

export interface RequestShape {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** One request through `handler`; resolves when its answer is written. */
export function inProcessRequest(
  handler: RequestListener,
  shape: RequestShape,
  socket: NullSocket,
): Promise<void> {
  return new Promise((resolve) => {
    const s = socket as unknown as Socket;
    const req = new IncomingMessage(s);
    const body = shape.body ?? '';
    const headers: Record<string, string> = { host: '127.0.0.1:8080', ...shape.headers };
    if (body) headers['content-length'] = String(Buffer.byteLength(body));
    // `complete`, as the HTTP parser sets it: a body read to its end destroys the request, and
    // an incomplete one would take the socket with it (an aborted upload).
    Object.assign(req, { method: shape.method, url: shape.url, headers, httpVersion: '1.1', complete: true });
    if (body) req.push(body);
    req.push(null);
    const res = new ServerResponse(req);
    res.assignSocket(s);
    res.on('finish', () => {
      res.detachSocket(s);
      resolve();
    });
    void handler(req, res);
  });
}
