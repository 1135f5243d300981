import pg from 'pg';

/**
 * How often the listening connection proves it is alive. Postgres hands a waiting notification to
 * a listening session before that session reads its next command, so a heartbeat query that
 * returns means every notification committed before it started has reached this process
 * (docs/scaling.md, "Postgres only").
 */
export const HEARTBEAT_MS = 250;
/**
 * A cache fed by notifications is trusted only while the last heartbeat that came back started
 * less than this long ago; past it, readers go to the database instead. This is the bound on how
 * stale an instance may be when its listening connection hangs without breaking.
 */
export const TRUST_WINDOW_MS = 1000;
/** A heartbeat slower than this counts as a failure: the connection is dropped and re-opened. */
const HEARTBEAT_TIMEOUT_MS = 2000;
/** Reconnect backoff: starts small (a restart of Postgres is usually quick), capped. */
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2000;

export type ListenerState = 'up' | 'down';

export interface NotificationSource {
  /**
   * Registers a handler for one channel (LISTENed on the next (re)connection if not yet).
   * Returns the function that removes it.
   */
  on(channel: string, handler: (payload: string) => void): () => void;
  /** Called after every (re)connection, once every channel is LISTENed: notifications may have been missed. */
  onReconnect(handler: () => void): () => void;
  /** Called when the connection is lost or a heartbeat fails. */
  onDown(handler: (err: unknown) => void): () => void;
  /** Resolves once the first connection LISTENs (or after `timeoutMs`, without throwing). */
  ready(timeoutMs?: number): Promise<void>;
  /** True when a heartbeat that started within TRUST_WINDOW_MS has come back. */
  fresh(): boolean;
  state(): ListenerState;
  close(): Promise<void>;
}

/**
 * One dedicated Postgres connection per process that LISTENs on Tessera's channels (Postgres
 * LISTEN/NOTIFY). It sits outside the knex pool because a listening session must stay open for
 * good. Reconnects on its own with a capped backoff; every reconnection is reported so that
 * caches fed by it reload from the tables, which stay the source of truth.
 */
export class PostgresListener implements NotificationSource {
  private client: pg.Client | undefined;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private readonly reconnectHandlers = new Set<() => void>();
  private readonly downHandlers = new Set<(err: unknown) => void>();
  private current: ListenerState = 'down';
  private confirmedAt = 0;
  private closed = false;
  private backoff = RECONNECT_MIN_MS;
  private heartbeat: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly firstUp: Promise<void>;
  private resolveFirstUp: () => void = () => {};

  constructor(
    private readonly connectionString: string,
    private readonly options: { heartbeatMs?: number; trustWindowMs?: number } = {},
  ) {
    this.firstUp = new Promise((resolve) => {
      this.resolveFirstUp = resolve;
    });
    void this.connect();
  }

  on(channel: string, handler: (payload: string) => void): () => void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      // Already connected: LISTEN now; otherwise the next connection does it.
      if (this.client && this.current === 'up') void this.listen(this.client, [channel]);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  onReconnect(handler: () => void): () => void {
    this.reconnectHandlers.add(handler);
    return () => this.reconnectHandlers.delete(handler);
  }

  onDown(handler: (err: unknown) => void): () => void {
    this.downHandlers.add(handler);
    return () => this.downHandlers.delete(handler);
  }

  async ready(timeoutMs = 3000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.firstUp,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  fresh(): boolean {
    return (
      this.current === 'up' && Date.now() - this.confirmedAt < (this.options.trustWindowMs ?? TRUST_WINDOW_MS)
    );
  }

  state(): ListenerState {
    return this.current;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    this.handlers.clear();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.connectionString,
      keepAlive: true,
      // Lets operators tell this session apart in pg_stat_activity.
      application_name: 'tessera-listener',
    });
    // Without a listener, a dropped connection's 'error' would crash the process.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection closed')));
    client.on('notification', (msg) => {
      const set = this.handlers.get(msg.channel);
      if (set) for (const h of set) h(msg.payload ?? '');
    });
    this.client = client;
    try {
      const started = Date.now();
      await client.connect();
      await this.listen(client, [...this.handlers.keys()]);
      if (this.closed || this.client !== client) {
        await client.end().catch(() => undefined);
        return;
      }
      this.current = 'up';
      this.confirmedAt = started;
      this.backoff = RECONNECT_MIN_MS;
      this.startHeartbeat(client);
      this.resolveFirstUp();
      for (const h of this.reconnectHandlers) h();
    } catch (err) {
      this.lost(client, err);
    }
  }

  private async listen(client: pg.Client, channels: string[]): Promise<void> {
    // Channel names are fixed identifiers chosen by Tessera, quoted anyway.
    for (const c of channels) await client.query(`LISTEN "${c.replace(/"/g, '""')}"`);
  }

  private startHeartbeat(client: pg.Client): void {
    clearInterval(this.heartbeat);
    let inFlight = false;
    this.heartbeat = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('heartbeat timed out')), HEARTBEAT_TIMEOUT_MS);
      });
      Promise.race([client.query('SELECT 1'), timeout])
        .then(() => {
          if (this.client === client) this.confirmedAt = Math.max(this.confirmedAt, started);
        })
        .catch((err) => this.lost(client, err))
        .finally(() => {
          clearTimeout(timer);
          inFlight = false;
        });
    }, this.options.heartbeatMs ?? HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Drops a failed connection (once) and schedules the next attempt. */
  private lost(client: pg.Client, err: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    clearInterval(this.heartbeat);
    const wasUp = this.current === 'up';
    this.current = 'down';
    client.removeAllListeners('notification');
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    if (this.closed) return;
    if (wasUp) for (const h of this.downHandlers) h(err);
    this.retry = setTimeout(() => void this.connect(), this.backoff);
    this.retry.unref();
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS);
  }
}
