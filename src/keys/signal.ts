import { EventEmitter } from 'node:events';
import type { RedisClient } from '../redis/connect.js';
import { subscriberConnection } from '../redis/subscriber.js';

/**
 * "The key table changed: reload now." Sent after every rotation, revocation and by the CLI (a
 * separate process); every instance subscribes. Delivery is best effort: a missed message is
 * covered by the periodic reload (KEY_RELOAD_INTERVAL), so a signal never carries key data.
 */
export interface KeyChangeSignal {
  publish(): Promise<void>;
  /** Resolves once messages can be received (the Redis SUBSCRIBE has been acknowledged). */
  ready?(): Promise<void>;
  /** Registers a listener; returns the function that removes it. */
  subscribe(onChange: () => void): () => void;
  close(): Promise<void>;
}

/** How long publish() waits for a connection that is still being established. */
const PUBLISH_CONNECT_TIMEOUT_MS = 2000;

function waitReady(client: RedisClient, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error('redis not ready'));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/** Embedded mode (one process): listeners in this process only. */
export class LocalKeyChangeSignal implements KeyChangeSignal {
  private readonly emitter = new EventEmitter();

  async publish(): Promise<void> {
    this.emitter.emit('change');
  }

  subscribe(onChange: () => void): () => void {
    this.emitter.on('change', onChange);
    return () => this.emitter.off('change', onChange);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/**
 * Redis pub/sub on `${REDIS_KEY_PREFIX}keys`. A subscribed connection cannot run other commands,
 * so it is a dedicated duplicate of the shared client. After a reconnect, messages sent while the
 * connection was down are lost, so listeners are told to reload then too.
 */
export class RedisKeyChangeSignal implements KeyChangeSignal {
  private readonly subscriber: RedisClient;
  private readonly listeners = new Set<() => void>();
  private readyOnce = false;
  private readonly subscribed: Promise<void>;

  constructor(
    private readonly publisher: RedisClient,
    private readonly channel: string,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.subscriber = subscriberConnection(publisher);
    this.subscriber.on('message', (ch: string) => {
      if (ch === this.channel) this.notify();
    });
    this.subscriber.on('ready', () => {
      if (this.readyOnce) this.notify();
      this.readyOnce = true;
    });
    this.subscriber.on('error', (err) => this.onError(err));
    this.subscribed = this.subscriber.subscribe(this.channel).then(
      () => undefined,
      (err) => this.onError(err),
    );
  }

  ready(): Promise<void> {
    return this.subscribed;
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }

  async publish(): Promise<void> {
    // The shared client fails fast while disconnected (no offline queue); a short-lived process
    // such as the CLI may publish before its connection is up, so wait for it briefly.
    if (this.publisher.status !== 'ready') await waitReady(this.publisher, PUBLISH_CONNECT_TIMEOUT_MS);
    await this.publisher.publish(this.channel, String(Date.now()));
  }

  subscribe(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.subscriber.disconnect();
  }
}
