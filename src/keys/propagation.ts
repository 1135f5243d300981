import { SYSTEM_STAMP } from '../audit/trail.js';
import type { EventBus } from '../events.js';
import { emitSignal } from '../facts/publisher.js';
import type { KeyRing } from './keyring.js';
import type { KeyLifecycle } from './lifecycle.js';
import type { KeyChangeSignal } from './signal.js';

export interface KeyWatcherDeps {
  keys: KeyRing;
  signal: KeyChangeSignal;
  events: EventBus;
  /** Seconds between reloads without a signal (KEY_RELOAD_INTERVAL). */
  reloadInterval: number;
}

/**
 * Keeps this instance's key ring current: reloads on every KeyChangeSignal (within about a
 * millisecond of the rotation), and every `reloadInterval` seconds as the fallback for a missed
 * message. The timer is unref'd so it never keeps a process alive. Returns the stop function.
 */
export function watchKeyChanges(deps: KeyWatcherDeps): () => void {
  let stopped = false;
  const reload = async (reason: string) => {
    if (stopped) return;
    try {
      const { signer } = await deps.keys.reload();
      emitSignal(deps.events, 'keys.reloaded', { activeKid: signer.kid, reason });
    } catch (err) {
      // The previous snapshot stays in service; the next signal or tick tries again.
      emitSignal(deps.events, 'dependency.degraded', { dependency: 'database', err });
    }
  };
  const unsubscribe = deps.signal.subscribe(() => void reload('signal'));
  const timer = setInterval(() => void reload('interval'), deps.reloadInterval * 1000);
  timer.unref();
  return () => {
    stopped = true;
    unsubscribe();
    clearInterval(timer);
  };
}

/** Scheduled rotation ticks at most this often; the decision itself uses the injected clock. */
const MAX_TICK_S = 60;

/**
 * KEY_ROTATION_INTERVAL: every instance ticks, but the rotation re-checks the active key's age
 * inside the locked transaction, so only the first instance past the deadline rotates; the others
 * find a fresh active key and do nothing. A too-fresh next key postpones the rotation to a later
 * tick instead of forcing it.
 */
export function scheduleRotation(deps: {
  lifecycle: KeyLifecycle;
  events: EventBus;
  interval: number;
}): () => void {
  if (deps.interval <= 0) return () => {};
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await deps.lifecycle.rotate({ ifActiveOlderThan: deps.interval, audit: SYSTEM_STAMP });
    } catch (err) {
      emitSignal(deps.events, 'dependency.degraded', { dependency: 'database', err });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), Math.max(1, Math.min(deps.interval, MAX_TICK_S)) * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
