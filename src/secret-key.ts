import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * For the embedded database only: a key generated once (256 bits) and kept beside the data, readable by
 * the owner alone, so tokens survive restarts with zero set-up. With PostgreSQL, instances must share a
 * key, so the server refuses to start without SECRET_KEY instead of calling this.
 */
export function loadOrCreateSecretKey(dataDir: string): { key: string; created: boolean; path: string } {
  const path = join(dataDir, 'secret_key');
  if (existsSync(path)) return { key: readFileSync(path, 'utf8').trim(), created: false, path };
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString('hex');
  writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return { key, created: true, path };
}
