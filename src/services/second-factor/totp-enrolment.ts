import { deriveKey, seal } from '../../crypto/aead.js';
import { newTotpSecret, totpUri } from '../../crypto/totp.js';
import type { Database } from '../../db/client.js';
import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { deleteLoginFailures } from '../../repositories/login-failures.js';
import { deleteMfaChallenges } from '../../repositories/second-factor/mfa-challenges.js';
import { deleteRecoveryCodes } from '../../repositories/second-factor/recovery-codes.js';
import { confirmTotpFactor, deleteTotpFactor, findTotpFactor, isConfirmed, putPendingTotpFactor } from '../../repositories/second-factor/totp-factors.js';
import { findUserById, setMfaEnabled } from '../../repositories/users.js';
import { queueNoticeMail } from '../account/account-mail.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, MfaSettings, ServiceDeps } from '../deps.js';
import { secondFactorLockoutKey } from '../sign-in/lockout.js';
import { confirmCurrentPassword } from '../sign-in/reauthentication.js';
import { endOtherSessions } from '../sessions/sessions.js';
import { assertSecondFactorStepUp, type StepUp } from './step-up.js';
import { behindSecondFactorLockout, issueRecoveryCodes, spendProof, spendTotpCode, totpSealContext, type SecondFactorProof } from './proofs.js';

/**
 * Keys of their own for sealing TOTP secrets and hashing recovery codes, derived from SECRET_KEY (so a
 * copy of the database alone reveals neither); the issuer apps show is the host of PUBLIC_URL.
 */
export function createMfaSettings(secretKey: string, publicUrl: string): MfaSettings {
  return {
    sealingKey: deriveKey(secretKey, 'totp-secrets'),
    recoveryCodeKey: deriveKey(secretKey, 'recovery-codes'),
    issuer: new URL(publicUrl).host,
  };
}

export interface TotpEnrolment {
  secret: string;
  otpauth_uri: string;
  /** The URI as a QR code, an SVG data URL drawn here (never by a remote service, which would see the secret). */
  qr: string;
}

async function qrDataUrl(text: string): Promise<string> {
  // Loaded at the first enrolment, not at start-up (~70 ms of module loading that most processes never need).
  const { default: QRCode } = await import('qrcode');
  const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/**
 * Step 1 of enrolment: a new 160-bit secret, not active until a code of it is confirmed. Calling again
 * replaces a pending secret; an active factor must be disabled first. The secret is stored sealed.
 */
export async function startTotpEnrolment(deps: ServiceDeps, user: UserRow, currentPassword: string, client: ClientInfo): Promise<TotpEnrolment> {
  await confirmCurrentPassword(deps, user, currentPassword, client);
  const secret = newTotpSecret();
  const pending = await putPendingTotpFactor(deps.db, user.id, seal(secret, deps.mfa.sealingKey, totpSealContext(user.id)), deps.clock.now());
  if (pending === undefined) throw new DomainError('MFA_ALREADY_ENABLED');
  await recordSecurityEvent(deps, { type: 'mfa_enrolment_started', userId: user.id, client });
  const uri = totpUri(secret, deps.mfa.issuer, user.username);
  return { secret, otpauth_uri: uri, qr: await qrDataUrl(uri) };
}

/**
 * Step 2: a code of the pending secret proves the app holds it. The factor becomes active and the first
 * recovery codes are made, shown this once. Wrong codes count towards the account's code lockout. Every
 * other session of the account ends (`currentSessionId` stays): a session opened with the password alone
 * must not outlive the factor that now guards the account.
 * @see issue 21, finding 2; ASVS 5.0 7.4.3
 */
export async function confirmTotpEnrolment(
  deps: ServiceDeps,
  user: UserRow,
  otp: string,
  client: ClientInfo,
  currentSessionId?: string,
): Promise<{ recovery_codes: string[] }> {
  const enabled = await behindSecondFactorLockout(deps, user.id, client, 'INCORRECT_CODE', { during: 'enrolment' }, () =>
    deps.db.transaction(async (tx) => {
      const factor = await findTotpFactor(tx, user.id, { forUpdate: true });
      if (factor === undefined) throw new DomainError('MFA_NOT_PENDING');
      if (factor.confirmedAt !== null) throw new DomainError('MFA_ALREADY_ENABLED');
      if (!(await spendTotpCode(deps, tx, factor, otp))) return undefined;
      const now = deps.clock.now();
      await confirmTotpFactor(tx, user.id, now);
      await setMfaEnabled(tx, user.id, true, now);
      // ASVS 5.0 6.3.7: the owner hears of it, in the transaction that turns it on.
      await queueNoticeMail(deps, tx, user, 'second_factor_enabled');
      const codes = await issueRecoveryCodes(deps, tx, user.id);
      return { codes, sessions: await endOtherSessions({ ...deps, db: tx }, user.id, currentSessionId, 'mfa_enabled') };
    }),
  );
  await recordSecurityEvent(deps, { type: 'mfa_enabled', userId: user.id, client, details: { sessions: enabled.sessions } });
  const codes = enabled.codes;
  return { recovery_codes: codes };
}

/**
 * A new set of recovery codes; every earlier one, used or not, stops working. The password and the second
 * factor (`assertSecondFactorStepUp`): fresh codes made with the password alone would turn the factor off.
 */
export async function regenerateRecoveryCodes(
  deps: ServiceDeps,
  user: UserRow,
  currentPassword: string,
  client: ClientInfo,
  stepUp: StepUp,
): Promise<{ recovery_codes: string[] }> {
  if (!user.mfaEnabled) throw new DomainError('MFA_NOT_ENABLED');
  await confirmCurrentPassword(deps, user, currentPassword, client);
  await assertSecondFactorStepUp(deps, user, stepUp, client, 'recovery_codes');
  const codes = await deps.db.transaction(async (tx) => {
    if (!isConfirmed(await findTotpFactor(tx, user.id, { forUpdate: true }))) throw new DomainError('MFA_NOT_ENABLED');
    await queueNoticeMail(deps, tx, user, 'recovery_codes_regenerated');
    return issueRecoveryCodes(deps, tx, user.id);
  });
  await recordSecurityEvent(deps, { type: 'recovery_codes_regenerated', userId: user.id, client });
  return { recovery_codes: codes };
}

/** The factor, its recovery codes and its pending logins go; logins ask for the password alone again. */
async function removeSecondFactor(db: Database, userId: number, now: Date): Promise<boolean> {
  const existed = await deleteTotpFactor(db, userId);
  await deleteRecoveryCodes(db, userId);
  await deleteMfaChallenges(db, userId);
  await setMfaEnabled(db, userId, false, now);
  return existed;
}

/**
 * Turning the second factor off takes both the password and a code (or a recovery code): a stolen
 * access token, or a password alone, is not enough to remove it.
 */
export async function disableTotp(
  deps: ServiceDeps,
  user: UserRow,
  input: { currentPassword: string; proof: SecondFactorProof },
  client: ClientInfo,
): Promise<void> {
  if (!user.mfaEnabled) throw new DomainError('MFA_NOT_ENABLED');
  await confirmCurrentPassword(deps, user, input.currentPassword, client);
  const secondFactor = 'otp' in input.proof ? 'otp' : 'recovery_code';
  await behindSecondFactorLockout(deps, user.id, client, 'INCORRECT_CODE', { during: 'disable', secondFactor }, () =>
    deps.db.transaction(async (tx) => {
      const factor = await findTotpFactor(tx, user.id, { forUpdate: true });
      if (!isConfirmed(factor)) throw new DomainError('MFA_NOT_ENABLED');
      if (!(await spendProof(deps, tx, factor, input.proof))) return undefined;
      await queueNoticeMail(deps, tx, user, 'second_factor_disabled');
      return removeSecondFactor(tx, user.id, deps.clock.now());
    }),
  );
  await recordSecurityEvent(deps, { type: 'mfa_disabled', userId: user.id, client, details: { secondFactor } });
}

/**
 * For an admin, when a user has lost both the app and the recovery codes: removes the user's second
 * factor (active or pending) with no code asked. The user's next login asks for the password alone.
 * Audited as `mfa_reset`, with the acting admin when given. Returns whether there was a factor.
 * @see issue 14 ("Admins can reset a user's second factor"); the admin route is wired by issue 13's /admin
 */
export async function resetSecondFactor(
  deps: Pick<ServiceDeps, 'db' | 'clock' | 'log' | 'mail'>,
  userId: number,
  by: { actorId?: number; client?: ClientInfo } = {},
): Promise<boolean> {
  const existed = await deps.db.transaction(async (tx) => {
    const removed = await removeSecondFactor(tx, userId, deps.clock.now());
    const user = removed ? await findUserById(tx, userId) : undefined;
    if (user !== undefined) await queueNoticeMail(deps, tx, user, 'second_factor_disabled');
    return removed;
  });
  // A clean slate: a user locked out by wrong codes can enrol again at once.
  await deleteLoginFailures(deps.db, [secondFactorLockoutKey(userId)]);
  if (existed) {
    await recordSecurityEvent(deps, { type: 'mfa_reset', userId, ...(by.client && { client: by.client }), details: { actorId: by.actorId ?? null } });
  }
  return existed;
}
