import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { findTotpFactor, isConfirmed } from '../../repositories/second-factor/totp-factors.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { behindSecondFactorLockout, spendProof, type SecondFactorProof } from './proofs.js';

/** What a signed-in caller brings to a change of the second factor: its session's `amr`, and perhaps a fresh proof. */
export interface StepUp {
  /** RFC 8176 methods of the caller's session (`["pwd"]` for a password-only one or a token without `amr`). */
  amr: readonly string[];
  proof?: SecondFactorProof | undefined;
}

/** `amr` values that say the session's sign-in proved a second factor: a TOTP or recovery code, or a passkey. */
const SECOND_FACTOR_AMR = new Set(['otp', 'mfa']);

export const sessionHasSecondFactor = (amr: readonly string[]) => amr.some((method) => SECOND_FACTOR_AMR.has(method));

/**
 * While a second factor is on, a change to it or a new way in (new recovery codes, a passkey) needs the
 * factor, not the password alone: a session whose sign-in proved it, or a proof now — a code of the app
 * or a recovery code that existed before this request (spent here, behind the code lockout). Otherwise a
 * password and a stolen session would regenerate the codes and then turn the factor off with one of them.
 * @see issue 21, finding 2; ASVS 5.0 6.4.x, 7.5.1
 */
export async function assertSecondFactorStepUp(deps: ServiceDeps, user: UserRow, stepUp: StepUp, client: ClientInfo, during: string): Promise<void> {
  if (!user.mfaEnabled || sessionHasSecondFactor(stepUp.amr)) return;
  const proof = stepUp.proof;
  if (proof === undefined) throw new DomainError('SECOND_FACTOR_PROOF_REQUIRED');
  const secondFactor = 'otp' in proof ? 'otp' : 'recovery_code';
  await behindSecondFactorLockout(deps, user.id, client, 'INCORRECT_CODE', { during, secondFactor }, () =>
    deps.db.transaction(async (tx) => {
      const factor = await findTotpFactor(tx, user.id, { forUpdate: true });
      if (!isConfirmed(factor)) return true;
      return (await spendProof(deps, tx, factor, proof)) ? true : undefined;
    }),
  );
}
