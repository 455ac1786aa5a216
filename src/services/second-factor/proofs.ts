import { open } from '../../crypto/aead.js';
import { hashRecoveryCode, newRecoveryCode } from '../../crypto/recovery-codes.js';
import { matchTotp } from '../../crypto/totp.js';
import type { Database } from '../../db/client.js';
import type { TotpFactorRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { replaceRecoveryCodes, spendRecoveryCode } from '../../repositories/second-factor/recovery-codes.js';
import { spendTotpStep } from '../../repositories/second-factor/totp-factors.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { attemptAbandoned, attemptFailed, attemptSucceeded, beginAttempt, secondFactorLockoutKey } from '../sign-in/lockout.js';

/** What proves the second factor: a code of the authenticator app, or one of the recovery codes. */
export type SecondFactorProof = { otp: string } | { recoveryCode: string };

export const RECOVERY_CODE_COUNT = 10;

/** The AEAD context of a user's TOTP secret: a sealed secret copied onto another user's row does not open. */
export const totpSealContext = (userId: number) => `totp-secret:${userId}`;

/**
 * The factor's secret. One that does not open was sealed under another SECRET_KEY: its codes cannot be
 * checked, so they are all wrong (an admin's reset, or a recovery code made under the same key, is the way out).
 */
export function openTotpSecret(deps: Pick<ServiceDeps, 'mfa' | 'log'>, factor: TotpFactorRow): string | undefined {
  const secret = open(factor.secretSealed, deps.mfa.sealingKey, totpSealContext(factor.userId));
  if (secret === undefined) deps.log.warn({ userId: factor.userId }, 'a TOTP secret does not open with this SECRET_KEY');
  return secret;
}

/**
 * Accepts a one-time code of `factor` at `now` (±1 step) and spends its time step in `db`, so the same
 * code, or an older one, is refused from then on. False for a wrong or replayed code.
 */
export async function spendTotpCode(deps: ServiceDeps, db: Database, factor: TotpFactorRow, otp: string): Promise<boolean> {
  const secret = openTotpSecret(deps, factor);
  const step = secret === undefined ? undefined : matchTotp(secret, otp, deps.clock.now());
  return step !== undefined && spendTotpStep(db, factor.userId, step);
}

/** Spends the proof in `db` (a transaction of the caller): a code of the confirmed `factor`, or a recovery code. */
export async function spendProof(deps: ServiceDeps, db: Database, factor: TotpFactorRow, proof: SecondFactorProof): Promise<boolean> {
  if ('otp' in proof) return spendTotpCode(deps, db, factor, proof.otp);
  return spendRecoveryCode(db, factor.userId, hashRecoveryCode(deps.mfa.recoveryCodeKey, factor.userId, proof.recoveryCode), deps.clock.now());
}

/** A fresh set of recovery codes for the user, replacing every earlier one; the codes in clear are returned once, never stored. */
export async function issueRecoveryCodes(deps: Pick<ServiceDeps, 'clock' | 'mfa'>, db: Database, userId: number): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await replaceRecoveryCodes(db, userId, codes.map((code) => hashRecoveryCode(deps.mfa.recoveryCodeKey, userId, code)), deps.clock.now());
  return codes;
}

/**
 * Runs `check` — which spends a code, in a transaction, and does what the code allows — behind the
 * account's second-factor lockout. `check` answers undefined for a wrong code: that is counted and
 * audited, and `wrongCode` is thrown. If `check` throws, the attempt is taken back (it had no verdict on
 * the code, e.g. the mfa_token was spent by a concurrent request) and the error goes on.
 * @see NIST SP 800-63B §5.2.2 (rate limiting); RFC 6238 §5.2
 */
export async function behindSecondFactorLockout<T>(
  deps: ServiceDeps,
  userId: number,
  client: ClientInfo,
  wrongCode: 'INVALID_OTP' | 'INCORRECT_CODE',
  details: Record<string, unknown>,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const attempt = await beginAttempt(deps, secondFactorLockoutKey(userId), 'TOO_MANY_CODE_ATTEMPTS');
  let result: T | undefined;
  try {
    result = await check();
  } catch (error) {
    await attemptAbandoned(deps, attempt);
    throw error;
  }
  if (result === undefined) {
    await recordSecurityEvent(deps, { type: 'mfa_failed', userId, client, details });
    await attemptFailed(deps, attempt, userId, client);
    throw new DomainError(wrongCode);
  }
  await attemptSucceeded(deps, attempt);
  return result;
}
