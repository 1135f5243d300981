import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Config, ConfigError, isEmbedded } from '../config.js';

/**
 * What a process that was started without the KEK holds instead (CLI commands that touch no
 * private key). Zero bytes: sealing or opening a key with it fails; nothing on those paths does.
 */
export const UNLOADED_KEK = new Uint8Array(0);

/**
 * The key-encryption key: from the environment in production; in embedded mode generated once
 * into keys/kek.b64 (0600) so a zero-setup start still never stores private keys in clear.
 */
export function resolveKek(config: Config): { kek: Uint8Array; generated: boolean } {
  if (config.keyEncryptionKey) return { kek: config.keyEncryptionKey, generated: false };
  // Never generate one next to a shared database: other instances could not read what it seals.
  if (!isEmbedded(config))
    throw new ConfigError(
      'KEY_ENCRYPTION_KEY',
      'is required when DATABASE_URL is set (or KEY_ENCRYPTION_KEY_FILE)',
    );
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
