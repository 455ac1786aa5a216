import bcrypt from 'bcrypt';
import type { PasswordScheme } from './password-scheme.js';

/** bcrypt reads only the first 72 bytes; a longer password would silently share a hash with its prefix. */
export const BCRYPT_MAX_BYTES = 72;

const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export function passwordFitsBcrypt(password: string): boolean {
  return Buffer.byteLength(password, 'utf8') <= BCRYPT_MAX_BYTES;
}

/**
 * bcrypt via the native binding: `hash`/`compare` run on libuv's thread pool, never on the event loop.
 * Hashes are `$2b$`, as passlib writes them; passlib's `$2a$`/`$2y$` verify too (same algorithm, the
 * prefix only records which implementation bug was absent).
 */
export function createBcryptScheme(rounds: number): PasswordScheme {
  return {
    maxBytes: BCRYPT_MAX_BYTES,
    recognises: (hash) => BCRYPT_HASH.test(hash),
    hash(password) {
      // The policy refuses these first; hashing one anyway would let every password sharing its first 72 bytes in.
      if (!passwordFitsBcrypt(password)) throw new RangeError(`bcrypt takes at most ${BCRYPT_MAX_BYTES} bytes`);
      return bcrypt.hash(password, rounds);
    },
    async verify(password, hash) {
      const normalised = hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash;
      // An over-long password never matches (bcrypt would ignore its tail, so a prefix would pass), but it
      // still costs a full comparison: its answer must take as long as anyone else's.
      const same = await bcrypt.compare(password, normalised);
      return same && passwordFitsBcrypt(password);
    },
    // A stronger hash (say passlib's cost 13) is kept: re-making it at the policy's cost would weaken it.
    isCurrent: (hash) => Number(BCRYPT_HASH.exec(hash)?.[1]) >= rounds,
  };
}
