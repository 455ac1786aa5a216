import bcrypt from 'bcrypt';
import { createHmac } from 'node:crypto';
import type { PasswordScheme } from './password-scheme.js';

/** bcrypt reads only the first 72 bytes; a longer password would silently share a hash with its prefix. */
const BCRYPT_MAX_BYTES = 72;

const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** passlib's `bcrypt_sha256`, version 2: `$bcrypt-sha256$v=2,t=2b,r=12$<salt, 22>$<digest, 31>`. */
const BCRYPT_SHA256_HASH = /^\$bcrypt-sha256\$v=2,t=2b,r=(\d\d?)\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})$/;

const fitsBcrypt = (password: string) => Buffer.byteLength(password, 'utf8') <= BCRYPT_MAX_BYTES;

/**
 * passlib's key for a long password: HMAC-SHA256 keyed by the (bcrypt-base64) salt, in standard base64
 * (44 bytes, no NUL, which bcrypt would stop at). Keyed by the salt so that no precomputed SHA-256 table
 * of leaked passwords can be tried against these hashes.
 */
const prehash = (password: string, salt: string) => createHmac('sha256', salt).update(password, 'utf8').digest('base64');

const costOf = (hash: string) => Number(BCRYPT_HASH.exec(hash)?.[1] ?? BCRYPT_SHA256_HASH.exec(hash)?.[1]);

/**
 * bcrypt via the native binding: `hash`/`compare` run on libuv's thread pool, never on the event loop.
 *
 * Passwords of up to 72 bytes of UTF-8 (any ASCII password up to 72 characters: nearly all) get plain
 * `$2b$` hashes, as passlib writes them — the Python service's own format, so a rollback keeps them.
 * passlib's `$2a$`/`$2y$` verify too (the prefix only records which implementation bug was absent).
 * A longer password (NIST asks for at least 64 characters in any script, and 64 characters of Cyrillic or
 * Chinese are 128–192 bytes) is pre-hashed as passlib's `bcrypt_sha256` does, in its format, rather than
 * truncated: bcrypt alone would let every password sharing its first 72 bytes in.
 */
export function createBcryptScheme(rounds: number): PasswordScheme {
  return {
    recognises: (hash) => BCRYPT_HASH.test(hash) || BCRYPT_SHA256_HASH.test(hash),
    async hash(password) {
      if (fitsBcrypt(password)) return bcrypt.hash(password, rounds);
      const settings = await bcrypt.genSalt(rounds, 'b');
      const salt = settings.slice(-22);
      const digest = (await bcrypt.hash(prehash(password, salt), settings)).slice(-31);
      return `$bcrypt-sha256$v=2,t=2b,r=${rounds}$${salt}$${digest}`;
    },
    async verify(password, hash) {
      const long = BCRYPT_SHA256_HASH.exec(hash);
      if (long) {
        const [, cost, salt, digest] = long;
        return bcrypt.compare(prehash(password, salt!), `$2b$${cost!.padStart(2, '0')}$${salt}${digest}`);
      }
      const normalised = hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash;
      // An over-long password never matches a plain hash (bcrypt would ignore its tail, so a prefix would
      // pass), but it still costs a full comparison: its answer must take as long as anyone else's.
      const same = await bcrypt.compare(password, normalised);
      return same && fitsBcrypt(password);
    },
    // A stronger hash (say passlib's cost 13) is kept: re-making it at the policy's cost would weaken it.
    isCurrent: (hash) => costOf(hash) >= rounds,
  };
}
