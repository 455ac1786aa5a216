import { DomainError } from '../../errors.js';
import { deleteAccount } from '../account/profile.js';
import { findUserById } from '../../repositories/users.js';
import type { Actor } from './users.js';
import type { ServiceDeps } from '../deps.js';
import { resetSecondFactor } from '../second-factor/totp-enrolment.js';
import { sendPasswordResetForUser } from '../account/password-reset.js';

/**
 * Admin actions that reuse the account's own flows, so an admin's door does exactly what the user's does:
 * deletion as self-deletion, a reset mail as "forgot password", a second-factor reset as the user's own
 * disabling. The admin never sees or sets a password or a secret.
 */

/** Deletes the user with every effect of self-deletion; refused (409) for the last active admin. */
export async function deleteUserAsAdmin(deps: ServiceDeps, actor: Actor, id: number): Promise<void> {
  if (!(await deleteAccount(deps, id, { by: 'admin', adminId: actor.id, client: actor.client }))) throw new DomainError('USER_NOT_FOUND');
}

/** Mails the user a password-reset link, as if they had asked; the per-address limit does not apply. */
export async function sendPasswordResetAsAdmin(deps: ServiceDeps, actor: Actor, id: number): Promise<void> {
  if (!(await sendPasswordResetForUser(deps, id, { adminId: actor.id, client: actor.client }))) throw new DomainError('USER_NOT_FOUND');
}

/** Removes the user's second factor (a lost authenticator and lost recovery codes); 409 when there is none. */
export async function resetSecondFactorAsAdmin(deps: ServiceDeps, actor: Actor, id: number): Promise<void> {
  if ((await findUserById(deps.db, id)) === undefined) throw new DomainError('USER_NOT_FOUND');
  // Audited by resetSecondFactor itself, as `mfa_reset` with the acting admin's id.
  if (!(await resetSecondFactor(deps, id, { actorId: actor.id, client: actor.client }))) throw new DomainError('MFA_NOT_ENABLED');
}
