import type { UserRow } from '../../db/schema.js';
import { updatePasswordHash } from '../../repositories/users.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { endAllSessions } from '../sessions/sessions.js';
import { verifyCurrentPassword } from '../sign-in/password-check.js';
import { queueNoticeMail } from './account-mail.js';
import { assertAcceptablePassword } from './password-policy.js';

/**
 * The current password is asked for behind its own lockout (see `passwordChangeLockoutKey`).
 * Changing the password ends every session and every access token issued before, so whoever held the old
 * password (or a token) is out. The client logs in again with the new password. The new hash and the
 * revocations commit together: a failure between them cannot leave old tokens valid under a new password.
 */
export async function changePassword(
  deps: ServiceDeps,
  user: UserRow,
  input: { currentPassword: string; newPassword: string },
  client: ClientInfo,
): Promise<void> {
  await verifyCurrentPassword(deps, user, input.currentPassword, client);
  assertAcceptablePassword(deps, input.newPassword, 'new_password', user);
  const hash = await deps.hasher.hash(input.newPassword);
  const ended = await deps.db.transaction(async (tx) => {
    await updatePasswordHash(tx, user.id, hash, deps.clock.now());
    await queueNoticeMail(deps, tx, user, 'password_changed');
    return endAllSessions({ ...deps, db: tx }, user.id, 'password_changed');
  });
  await recordSecurityEvent(deps, { type: 'password_changed', userId: user.id, client, details: { sessions: ended } });
}
