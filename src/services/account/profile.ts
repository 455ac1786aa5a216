import type { UserRow } from '../../db/schema.js';
import { removeNamesFromAuditEvents } from '../../repositories/audit-events.js';
import { deleteLoginFailures } from '../../repositories/login-failures.js';
import { deleteUnsentMailsOf } from '../../repositories/account/mail-outbox.js';
import { endProviderAccess } from '../provider/grants.js';
import { deleteUser, updateUserProfile } from '../../repositories/users.js';
import { queueNoticeMail } from './account-mail.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { accountLockoutKeys } from '../sign-in/lockout.js';
import { verifyCurrentPassword } from '../sign-in/password-check.js';
import { lockAdminsIf } from '../admin/roles.js';
import { DomainError } from '../../errors.js';

/**
 * `PATCH /user/user`: the username, for now (the address changes through the mailed confirmation of
 * account/email-change.ts). Access tokens keep working: they name the user by `uid`. A name another
 * account has, in any letter case, is refused as at registration (409). The address gets a notice.
 */
export async function updateProfile(deps: ServiceDeps, user: UserRow, change: { username?: string }, client: ClientInfo): Promise<UserRow> {
  if (change.username === undefined || change.username === user.username) return user;
  const updated = await deps.db.transaction(async (tx) => {
    const updated = await updateUserProfile(tx, user.id, { username: change.username }, deps.clock.now());
    // ASVS 5.0 6.3.7: a changed username is a changed authentication detail (it is a login name).
    if (updated) await queueNoticeMail(deps, tx, updated, 'username_changed');
    return updated;
  });
  if (updated === undefined) return user;
  await recordSecurityEvent(deps, { type: 'profile_updated', userId: user.id, client, details: { fields: ['username'] } });
  return updated;
}

/** Who deletes an account: its owner (after the password check) or an administrator (issue 13). */
export interface DeletionActor {
  by: 'self' | 'admin';
  adminId?: number;
  client?: ClientInfo;
}

/**
 * Deletes the account `userId` at once, with no password check (self-deletion checks it first; an
 * administrator calls this directly): the user row, and with it (foreign keys) its sessions, refresh
 * tokens and mailed tokens, so every token it had dies on its next use; its unsent mail and lockout
 * counters; the names in its security events, which stay under its id. The name can be registered again
 * at once. A notice goes to the address. False when there is no such user.
 */
export async function deleteAccount(deps: ServiceDeps, userId: number, actor: DeletionActor): Promise<boolean> {
  const deleted = await deps.db.transaction(async (tx) => {
    // The last-admin rule (issue 13) holds for deletion too, by an admin or by the admin themself: the
    // active admins are locked first, in the order every admin change locks them.
    const admins = await lockAdminsIf(tx, true, deps.clock.now());
    if (admins.length === 1 && admins[0] === userId) throw new DomainError('LAST_ADMIN');
    await endProviderAccess(tx, userId);
    const user = await deleteUser(tx, userId);
    if (user === undefined) return undefined;
    await deleteUnsentMailsOf(tx, user.id);
    await deleteLoginFailures(tx, accountLockoutKeys(user));
    await removeNamesFromAuditEvents(tx, user.id);
    await queueNoticeMail(deps, tx, user, 'account_deleted');
    return user;
  });
  if (deleted === undefined) return false;
  await recordSecurityEvent(deps, {
    type: 'account_deleted',
    userId,
    client: actor.client,
    details: { by: actor.by, ...(actor.adminId !== undefined && { adminId: actor.adminId }) },
  });
  return true;
}

/**
 * `DELETE /user/user`: the current password first, behind the account's password lockout.
 * @see OWASP ASVS 5.0 7.5.1 (re-authentication before a sensitive change)
 */
export async function deleteOwnAccount(deps: ServiceDeps, user: UserRow, currentPassword: string, client: ClientInfo): Promise<void> {
  await verifyCurrentPassword(deps, user, currentPassword, client);
  await deleteAccount(deps, user.id, { by: 'self', client });
}
