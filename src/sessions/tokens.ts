import { randomUUID } from 'node:crypto';
import type { ClientRecord, NewRefreshToken } from '../stores/types.js';
import { randomToken, sha256 } from '../tokens/secrets.js';

/** The session lifetimes and limits (seconds; config.ts); per-client overrides win over these. */
export interface SessionSettings {
  refreshTokenIdleTtl: number;
  refreshTokenMaxAge: number;
  refreshReuseLeeway: number;
  maxSessionsPerUser: number;
}

/** Refresh tokens are 43 base64url characters; anything else cannot be one of ours. */
const REFRESH_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
export const looksLikeRefreshToken = (value: string) => REFRESH_TOKEN_SHAPE.test(value);

/**
 * A new refresh token of `client`'s session: 256 random bits, stored only as its SHA-256, idle
 * for at most the client's REFRESH_TOKEN_IDLE_TTL (the store caps it at the family's expiry).
 */
export function newRefreshToken(
  client: ClientRecord,
  settings: Pick<SessionSettings, 'refreshTokenIdleTtl'>,
  now: number,
): { value: string; record: NewRefreshToken } {
  const value = randomToken(32);
  const idle = client.refreshTokenIdleTtl ?? settings.refreshTokenIdleTtl;
  return {
    value,
    record: { id: randomUUID(), hash: sha256(value), idleExpiresAt: new Date(now + idle * 1000) },
  };
}
