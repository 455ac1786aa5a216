import { createHmac, randomBytes } from 'node:crypto';

/** Crockford's base32: no I, L, O or U, so a code read off paper is not mistyped. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const GROUPS = 3;
const GROUP_LENGTH = 4;

/**
 * A recovery code: 12 characters of a 32-letter alphabet, 60 bits (NIST SP 800-63B §5.1.2 asks 64 of a
 * look-up secret only when it is guessed offline; ours are keyed hashes and behind the lockout, and the
 * issue asks ≥ 50). Shown as `xxxx-xxxx-xxxx`.
 */
export function newRecoveryCode(): string {
  // 256 is a multiple of 32: each byte's low five bits are uniform.
  const letters = [...randomBytes(GROUPS * GROUP_LENGTH)].map((byte) => ALPHABET[byte & 31]!).join('');
  return letters.match(new RegExp(`.{${GROUP_LENGTH}}`, 'g'))!.join('-');
}

/** As typed: letter case, hyphens and spaces do not matter, and the letters people confuse with digits are read as them. */
export function normaliseRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '').replace(/[il]/g, '1').replace(/o/g, '0');
}

/**
 * Stored as HMAC-SHA256 under a key derived from SECRET_KEY, with the user id in the message: a copy of
 * the database alone gives no way to test guesses, and one user's code hash says nothing of another's.
 */
export function hashRecoveryCode(key: Buffer, userId: number, code: string): string {
  return createHmac('sha256', key).update(`${userId}\0${normaliseRecoveryCode(code)}`).digest('base64url');
}
