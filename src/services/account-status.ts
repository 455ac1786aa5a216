import type { UserRow } from '../db/schema.js';
import { DomainError } from '../errors.js';
import { recordSecurityEvent } from './audit.js';
import type { ClientInfo, ServiceDeps } from './deps.js';

/** `disabled` (is_active false) until an admin enables it; `banned` until `banned_until` passes. */
export type AccountStatus = 'active' | 'disabled' | 'banned';

export function accountStatus(user: Pick<UserRow, 'isActive' | 'bannedUntil'>, now: Date): AccountStatus {
  if (!user.isActive) return 'disabled';
  if (user.bannedUntil !== null && user.bannedUntil.getTime() > now.getTime()) return 'banned';
  return 'active';
}

/**
 * A disabled or banned account whose password was right is told so (403), after the password check: a
 * wrong password gets the plain 401 whatever the account's state, so a guesser learns nothing from it.
 * Runs after the password is verified and before a session opens (contracts: login checks, first of three).
 * @see issue 13; ASVS 5.0 7.4.2
 */
export async function refuseDisabledAccount(deps: ServiceDeps, user: UserRow, client: ClientInfo): Promise<void> {
  const status = accountStatus(user, deps.clock.now());
  if (status === 'active') return;
  await recordSecurityEvent(deps, { type: 'login_refused', userId: user.id, client, details: { reason: `account_${status}` } });
  throw new DomainError('ACCOUNT_DISABLED');
}
