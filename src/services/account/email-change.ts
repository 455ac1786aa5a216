import { hashOpaqueToken } from '../../crypto/opaque-tokens.js';
import type { UserRow } from '../../db/schema.js';
import { DomainError, InvalidInputError } from '../../errors.js';
import { ALL_TOKEN_PURPOSES, deleteAccountTokens, redeemAccountToken } from '../../repositories/account/account-tokens.js';
import type { Database } from '../../db/client.js';
import { findUserByEmail, findUserById, updateUserProfile } from '../../repositories/users.js';
import { issueMailedToken, queueNoticeMail, underSendLimit, type MailDeps } from './account-mail.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { verifyCurrentPassword } from '../sign-in/password-check.js';

/**
 * `POST /user/change-email`: asks for the current password (behind the account's password lockout, as a
 * password change does), then mails a confirmation link to the new address and a notice to the current
 * one. Nothing changes until the link is used. An address another account has is refused as registration
 * refuses it (409), which says no more than registration already does.
 * @see OWASP ASVS 5.0 7.5.1 (re-authentication before changing sensitive account attributes)
 */
export async function requestEmailChange(
  deps: ServiceDeps,
  user: UserRow,
  input: { newEmail: string; currentPassword: string },
  client: ClientInfo,
): Promise<void> {
  await verifyCurrentPassword(deps, user, input.currentPassword, client);
  if (input.newEmail.toLowerCase() === user.email.toLowerCase()) {
    throw new InvalidInputError([{ loc: ['body', 'new_email'], msg: 'This is already the account’s e-mail address', type: 'value_error' }]);
  }
  if ((await findUserByEmail(deps.db, input.newEmail)) !== undefined) throw new DomainError('USER_ALREADY_EXISTS');
  const queued = await deps.db.transaction(async (tx) => {
    // Past the new address's hourly limit the request is accepted and nothing is sent, as elsewhere.
    if (!(await underSendLimit(deps, tx, input.newEmail))) return false;
    await issueMailedToken(deps, tx, user, 'change_email', input.newEmail);
    await queueNoticeMail(deps, tx, user, 'email_change_requested');
    return true;
  });
  if (queued) await recordSecurityEvent(deps, { type: 'email_change_requested', userId: user.id, client });
}

/**
 * Confirms an e-mail change with the token mailed to the new address: the address moves and counts as
 * verified (the link proved it is theirs). Links mailed earlier to the old address (reset, verification)
 * are voided. If another account took the address meanwhile, nothing changes and the token stays (409).
 * The account's security stamp must be the one the change was requested under: a reset, a password change
 * or a logout-all since then voids it (an intruder's pending change does not outlive the owner's recovery).
 * @see issue 21, finding 1(a)
 */
export async function confirmEmailChange(deps: ServiceDeps, token: string, client: ClientInfo): Promise<UserRow> {
  const { user, previous } = await deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const spent = await redeemAccountToken(tx, hashOpaqueToken(token), 'change_email', now);
    if (spent === undefined) throw new DomainError('INVALID_MAIL_TOKEN');
    const before = await findUserById(tx, spent.userId);
    if (before === undefined || spent.securityStamp !== before.securityStamp) throw new DomainError('INVALID_MAIL_TOKEN');
    const user = await updateUserProfile(tx, spent.userId, { email: spent.email, emailVerified: true }, now);
    if (user === undefined) throw new DomainError('INVALID_MAIL_TOKEN');
    await deleteAccountTokens(tx, user.id, ['reset_password', 'verify_email']);
    // To the old address, as it was (verified or not).
    await queueNoticeMail(deps, tx, before, 'email_changed');
    return { user, previous: before.email };
  });
  await recordSecurityEvent(deps, { type: 'email_changed', userId: user.id, client, details: { previousDomain: previous.split('@').pop() } });
  return user;
}

/**
 * An administrator moved the account to another address (in the admin's transaction `tx`): links mailed
 * to the old address (reset, verification, a pending change) stop working, and the old address hears of
 * it, as when the owner changes it.
 * @see issue 21, finding 6; ASVS 5.0 6.3.7
 */
export async function addressMovedByAdmin(deps: MailDeps, tx: Database, before: UserRow): Promise<void> {
  await deleteAccountTokens(tx, before.id, ALL_TOKEN_PURPOSES);
  await queueNoticeMail(deps, tx, before, 'email_changed');
}
