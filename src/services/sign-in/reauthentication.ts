import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { attemptAbandoned, attemptFailed, attemptSucceeded, beginAttempt, passwordChangeLockoutKey } from './lockout.js';

/**
 * The current password, asked again of a caller who holds the account's access token before a change to
 * how the account logs in (the second factor). Behind the same per-account lockout as a password change,
 * so a stolen access token cannot be used to guess the password here either.
 */
export async function confirmCurrentPassword(deps: ServiceDeps, user: UserRow, password: string, client: ClientInfo): Promise<void> {
  const attempt = await beginAttempt(deps, passwordChangeLockoutKey(user), 'TOO_MANY_PASSWORD_ATTEMPTS');
  let match: boolean;
  try {
    match = await deps.hasher.verify(password, user.hashPassword);
  } catch (error) {
    // No verdict (the hash queue is full, say): the attempt is not a failure.
    await attemptAbandoned(deps, attempt);
    throw error;
  }
  if (!match) {
    await recordSecurityEvent(deps, { type: 'reauthentication_failed', userId: user.id, client });
    await attemptFailed(deps, attempt, user.id, client);
    throw new DomainError('INCORRECT_PASSWORD');
  }
  await attemptSucceeded(deps, attempt);
}
