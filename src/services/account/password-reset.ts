import { hashOpaqueToken } from '../../crypto/opaque-tokens.js';
import { DomainError } from '../../errors.js';
import { findAccountToken, redeemAccountToken } from '../../repositories/account/account-tokens.js';
import { deleteLoginFailures } from '../../repositories/login-failures.js';
import { findUserByEmail, findUserById, updatePasswordHash } from '../../repositories/users.js';
import { issueMailedToken, queueNoticeMail, underSendLimit } from './account-mail.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { accountLockoutKeys } from '../sign-in/lockout.js';
import { assertAcceptablePassword } from './password-policy.js';
import { endAllSessions } from '../sessions/sessions.js';
import { removedInWords, removeWaysInAddedBefore } from './recovery.js';

/**
 * `POST /user/forgot-password`: returns at once; the address is looked up afterwards (deferred work), so
 * the answer — status, body, headers and time — is the same whether or not an account has it.
 * @see OWASP ASVS 5.0 6.3.8 (no account enumeration through recovery)
 */
export function forgotPassword(deps: ServiceDeps, email: string, client: ClientInfo): void {
  deps.deferred.run('password reset request', () => requestPasswordReset(deps, email, client));
}

/** Mails a reset link if `email` is an active account's and the address is under its sending limit. */
export async function requestPasswordReset(deps: ServiceDeps, email: string, client?: ClientInfo): Promise<boolean> {
  const user = await findUserByEmail(deps.db, email);
  if (user === undefined || !user.isActive) return false;
  const queued = await deps.db.transaction(async (tx) => {
    if (!(await underSendLimit(deps, tx, user.email))) return false;
    await issueMailedToken(deps, tx, user, 'reset_password', user.email);
    return true;
  });
  if (!queued) {
    deps.log.info({ userId: user.id, reqId: client?.requestId }, 'password reset not mailed: the address reached its hourly limit');
    return false;
  }
  await recordSecurityEvent(deps, { type: 'password_reset_requested', userId: user.id, client });
  return true;
}

/**
 * Mails a password-reset link to the user `userId` on someone's behalf (an administrator, issue 13): no
 * sending limit, and the event names who asked. False when there is no such user.
 */
export async function sendPasswordResetForUser(deps: ServiceDeps, userId: number, actor: { adminId?: number; client?: ClientInfo } = {}): Promise<boolean> {
  const user = await findUserById(deps.db, userId);
  if (user === undefined) return false;
  await deps.db.transaction((tx) => issueMailedToken(deps, tx, user, 'reset_password', user.email));
  await recordSecurityEvent(deps, { type: 'password_reset_requested', userId, client: actor.client, details: { adminId: actor.adminId ?? null } });
  return true;
}

/**
 * `POST /user/reset-password`. The new password is checked (same policy as registration) before the token
 * is spent, so a refused password leaves the link usable. The token is then spent by one conditional
 * DELETE in the transaction that sets the hash: of concurrent redemptions exactly one wins. Every session
 * and access token ends, the account's lockout is cleared (the owner proved control of the address), every
 * other mailed token (a pending e-mail change too), passkey and linked identity goes (`removeWaysInAddedBefore`),
 * and a notice listing what was removed is mailed. A confirmed second factor stays: the next login asks for it.
 * @see OWASP ASVS 5.0 6.3.7 (notice), 6.4 (recovery); issue 21, finding 1
 */
export async function resetPassword(deps: ServiceDeps, token: string, password: string, client: ClientInfo): Promise<void> {
  const tokenHash = hashOpaqueToken(token);
  const found = await findAccountToken(deps.db, tokenHash, 'reset_password', deps.clock.now());
  const user = found && (await findUserById(deps.db, found.userId));
  if (user === undefined || !user.isActive) throw new DomainError('INVALID_MAIL_TOKEN');
  assertAcceptablePassword(deps, password, 'password', user);
  const hash = await deps.hasher.hash(password);
  const ended = await deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    if ((await redeemAccountToken(tx, tokenHash, 'reset_password', now)) === undefined) return undefined;
    await updatePasswordHash(tx, user.id, hash, now);
    const sessions = await endAllSessions({ ...deps, db: tx }, user.id, 'password_reset');
    await deleteLoginFailures(tx, accountLockoutKeys(user));
    const removed = await removeWaysInAddedBefore(tx, user.id);
    await queueNoticeMail(deps, tx, user, 'password_changed', user.email, removedInWords(deps, removed));
    return { sessions, removed };
  });
  if (ended === undefined) throw new DomainError('INVALID_MAIL_TOKEN');
  await recordSecurityEvent(deps, {
    type: 'password_reset',
    userId: user.id,
    client,
    details: { sessions: ended.sessions, passkeysRemoved: ended.removed.passkeys.length, identitiesRemoved: ended.removed.providers },
  });
}
