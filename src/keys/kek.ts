import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';

/**
 * The key-encryption key: from the environment in production; in embedded mode generated once
 * into keys/kek.b64 (0600) so a zero-setup start still never stores private keys in clear.
 */
export function resolveKek(config: Config): { kek: Uint8Array; generated: boolean } {
  if (config.keyEncryptionKey) return { kek: config.keyEncryptionKey, generated: false };
  const file = path.resolve(config.keysDir, 'kek.b64');
  if (existsSync(file)) {
    const bytes = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (bytes.length !== 32) throw new Error(`${file} does not hold a 256-bit base64url key`);
    return { kek: new Uint8Array(bytes), generated: false };
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const kek = randomBytes(32);
  writeFileSync(file, `${kek.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return { kek: new Uint8Array(kek), generated: true };
}
