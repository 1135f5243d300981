import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * How long one nonce window lasts (s). A nonce is accepted in its own window and the next, so it
 * lives between one and two windows; every /token answer carries the current one (RFC 9449 §8.2).
 */
export const NONCE_WINDOW_S = 120;
const MAC_BYTES = 16;

/** The server nonces of RFC 9449 §8: issued with `DPoP-Nonce`, checked in the proof's `nonce`. */
export interface DpopNonces {
  /** The nonce to hand out now. */
  current(): string;
  /** True when `nonce` was issued by this deployment in the current or the previous window. */
  accepts(nonce: string | undefined): boolean;
}

/**
 * Stateless nonces every instance accepts without a shared write per request: the window number
 * and an HMAC of it under a secret derived (HKDF, RFC 5869) from the KEY_ENCRYPTION_KEY, which
 * every instance of a deployment holds. The secret rotates with the window number it signs; a
 * nonce reveals nothing but that number. docs/dpop.md.
 */
export class HmacDpopNonces implements DpopNonces {
  private readonly secret: Buffer;

  constructor(
    kek: Uint8Array,
    private readonly now: () => number,
  ) {
    this.secret = Buffer.from(hkdfSync('sha256', kek, new Uint8Array(0), 'tessera dpop nonce v1', 32));
  }

  current(): string {
    return this.nonceFor(this.window());
  }

  accepts(nonce: string | undefined): boolean {
    if (typeof nonce !== 'string' || nonce.length > 64) return false;
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== 4 + MAC_BYTES || bytes.toString('base64url') !== nonce) return false;
    const window = bytes.readUInt32BE(0);
    const now = this.window();
    if (window !== now && window !== now - 1) return false;
    return timingSafeEqual(bytes.subarray(4), this.mac(window));
  }

  private window(): number {
    return Math.floor(this.now() / 1000 / NONCE_WINDOW_S);
  }

  private mac(window: number): Buffer {
    const w = Buffer.alloc(4);
    w.writeUInt32BE(window >>> 0);
    return createHmac('sha256', this.secret).update(w).digest().subarray(0, MAC_BYTES);
  }

  private nonceFor(window: number): string {
    const w = Buffer.alloc(4);
    w.writeUInt32BE(window >>> 0);
    return Buffer.concat([w, this.mac(window)]).toString('base64url');
  }
}
