import { availableParallelism } from 'node:os';
import { OAuthError } from '../errors.js';

/**
 * libuv's thread pool size: argon2 runs there, and so do WebCrypto's signature checks (jose),
 * so a login flood that filled it would stall JWT verification, introspection and refresh. The
 * launcher (bin/tessera-server.cjs) sets it to cores + 1 before the pool starts, unless the
 * operator set it; Node's default is 4.
 */
export const THREAD_POOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE) || 4;

export interface HashingQueueOptions {
  /**
   * Hashes running at once. Default: cores - 1 (with the launcher's pool of cores + 1), so one
   * core stays for the event loop and two pool threads for token checks (argon2 is memory-hard
   * and keeps its core busy); a smaller pool set by hand lowers it to pool size - 2.
   */
  concurrency: number;
  /** Longest a hash waits for its turn before the login is answered 503. */
  maxWaitMs: number;
  /** Waiting hashes beyond this are refused at once (bounded memory under a flood). */
  maxQueued: number;
}

/** The timers the waiting limit runs on (a test passes fake ones). */
export interface QueueTimers {
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const SYSTEM_TIMERS: QueueTimers = {
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export const DEFAULT_HASHING_QUEUE: HashingQueueOptions = {
  concurrency: Math.max(1, Math.min(THREAD_POOL_SIZE - 2, availableParallelism() - 1)),
  // Long enough to absorb a burst of honest logins, short enough that a flood is told to come back.
  maxWaitMs: 2000,
  maxQueued: 256,
};

/**
 * RFC 9110 §15.6.4: 503 with Retry-After. The login's credentials check tells it apart from other
 * failures (a busy login is not a wrong password, and costs no throttle points).
 */
export class HashingBusy extends OAuthError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterMs: number) {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super('temporarily_unavailable', 'too many logins in progress; retry later', {
      detail: 'password hashing queue full',
      headers: { 'Retry-After': String(seconds) },
    });
    this.retryAfterSeconds = seconds;
  }
}

interface Waiter {
  start(): void;
  timer: unknown;
}

/**
 * Server-wide bound on password hashing: at most `concurrency` hashes run, the rest wait in
 * arrival order for at most `maxWaitMs`, then get 503. Requests that hash nothing never wait here.
 */
export class HashingQueue {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly options: HashingQueueOptions = DEFAULT_HASHING_QUEUE,
    private readonly timers: QueueTimers = SYSTEM_TIMERS,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /** Hashes running and waiting, for tests and diagnostics. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  private acquire(): Promise<void> {
    if (this.running < this.options.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    const { maxQueued, maxWaitMs } = this.options;
    if (this.waiting.length >= maxQueued) return Promise.reject(new HashingBusy(maxWaitMs));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          this.timers.clearTimeout(waiter.timer);
          resolve();
        },
        timer: this.timers.setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(new HashingBusy(maxWaitMs));
        }, maxWaitMs),
      };
      this.waiting.push(waiter);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter, so `running` only drops when nobody waits.
    if (next) next.start();
    else this.running--;
  }
}
