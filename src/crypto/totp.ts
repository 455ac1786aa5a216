import { Secret, TOTP } from 'otpauth';

/**
 * RFC 6238 time-based one-time passwords through the `otpauth` library (nothing of the algorithm is ours):
 * HMAC-SHA-1, 6 digits, 30-second steps — what every authenticator app reads from an otpauth:// URI.
 * @see RFC 6238; RFC 4226
 */
const PERIOD_SECONDS = 30;
const DIGITS = 6;
const ALGORITHM = 'SHA1';

/** ±1 step: a phone clock a little off, or a code typed as it rolls over, still works (RFC 6238 §5.2). */
export const TOTP_DRIFT_STEPS = 1;

/** A new random secret of 160 bits (RFC 4226 §4 recommends 160), in base32 as apps expect it. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totp(secretBase32: string, issuer = '', label = 'user'): TOTP {
  return new TOTP({ issuer, label, algorithm: ALGORITHM, digits: DIGITS, period: PERIOD_SECONDS, secret: Secret.fromBase32(secretBase32) });
}

/** The `otpauth://totp/...` URI an authenticator app scans. */
export function totpUri(secretBase32: string, issuer: string, accountName: string): string {
  return totp(secretBase32, issuer, accountName).toString();
}

/** The time step (counter) of an instant. */
export function totpStep(at: Date): number {
  return TOTP.counter({ period: PERIOD_SECONDS, timestamp: at.getTime() });
}

/** The code of an instant, as the authenticator app would show it (the tests play the app with it). */
export function totpCode(secretBase32: string, at: Date): string {
  return totp(secretBase32).generate({ timestamp: at.getTime() });
}

/**
 * The time step a code belongs to, if it is the code of the step of `at` or of one step either side;
 * otherwise undefined. The library compares in constant time.
 */
export function matchTotp(secretBase32: string, code: string, at: Date): number | undefined {
  // The library's constant-time comparison throws on inputs of another byte length; such a code is just wrong.
  if (!/^[0-9]{6}$/.test(code)) return undefined;
  const delta = totp(secretBase32).validate({ token: code, timestamp: at.getTime(), window: TOTP_DRIFT_STEPS });
  return delta === null ? undefined : totpStep(at) + delta;
}
