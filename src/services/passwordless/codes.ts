// The secrets of a passwordless sign-in: the mailed code, the link token, the browser cookie and the code
// shown on the requesting screen. All from the CSPRNG; only their hashes are stored.
import { createHmac, randomInt } from 'node:crypto';
import { hashOpaqueToken, newOpaqueToken } from '../../crypto/opaque-tokens.js';
import { newRecoveryCode, normaliseRecoveryCode } from '../../crypto/recovery-codes.js';

export const CODE_DIGITS = 8;

/** 8 decimal digits, uniform (randomInt rejects the biased tail): the code typed from the mail. */
export function newMailedCode(): string {
  return String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');
}

/** Spaces and hyphens a person may type between the digits do not matter. */
export const normaliseMailedCode = (code: string) => code.replace(/[\s-]/g, '');

/**
 * HMAC-SHA256 under a key derived from SECRET_KEY, with the address in the message: 10^8 codes would fall
 * to a plain hash at once, so a copy of the table alone must give no way to test guesses.
 */
export function hashMailedCode(key: Buffer, email: string, code: string): string {
  return createHmac('sha256', key).update(`code\0${email.toLowerCase()}\0${normaliseMailedCode(code)}`).digest('base64url');
}

/**
 * The code shown on the screen that asked for the link (`xxxx-xxxx-xxxx`, 60 bits, the recovery codes'
 * alphabet): opened in another browser, the link asks for it. Keyed to the link token's hash.
 */
export function newScreenCode(): string {
  return newRecoveryCode();
}

export function hashScreenCode(key: Buffer, linkHash: string, code: string): string {
  return createHmac('sha256', key).update(`screen\0${linkHash}\0${normaliseRecoveryCode(code)}`).digest('base64url');
}

/** The link token and the browser cookie: 256 bits each, SHA-256 stored (no guessing to slow down). */
export const newLinkToken = newOpaqueToken;
export const newBrowserBinding = newOpaqueToken;
export const hashSecret = hashOpaqueToken;
