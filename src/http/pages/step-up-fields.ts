import type { StepUp } from '../../services/second-factor/step-up.js';

/**
 * A page form's proof of the second factor (issue 21): the `otp` or `recovery_code` field when filled in,
 * with the `amr` of the browser's session (a session that signed in with the factor needs neither).
 */
export function pageStepUp(amr: readonly string[], fields: Record<string, unknown>): StepUp {
  const otp = typeof fields['otp'] === 'string' ? fields['otp'].trim() : '';
  const recoveryCode = typeof fields['recovery_code'] === 'string' ? fields['recovery_code'].trim() : '';
  const proof = recoveryCode !== '' ? { recoveryCode } : otp !== '' ? { otp } : undefined;
  return { amr, proof };
}
