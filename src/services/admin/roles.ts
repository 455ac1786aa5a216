import type { UserRow } from '../../db/schema.js';
import { DomainError, InvalidInputError } from '../../errors.js';
import { changeRole, lockActiveAdmins } from '../../repositories/admin-users.js';
import { findUserByLogin } from '../../repositories/users.js';
import { accountStatus } from '../account-status.js';
import { recordSecurityEvent } from '../audit.js';
import type { ServiceDeps } from '../deps.js';

/** The role the admin API requires. There is never a default admin: the first is made with the CLI. */
export const ADMIN_ROLE = 'admin';

/** Role names: short and plain, so they read the same in tokens, logs and the CLI. */
export const ROLE_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$';
export const ROLE_RULE = 'A role is 1 to 64 letters, digits, or _ . : -';
const ROLE = new RegExp(ROLE_PATTERN);

export function isValidRole(role: string): boolean {
  return ROLE.test(role);
}

/** Checked against the row read for this request, never the token: a role removed is gone at once. */
export function hasRole(user: Pick<UserRow, 'roles'>, role: string): boolean {
  return user.roles.includes(role);
}

/** Can act as an admin now: has the role, and is neither disabled nor banned. */
export function isActiveAdmin(user: Pick<UserRow, 'roles' | 'isActive' | 'bannedUntil'>, now: Date): boolean {
  return hasRole(user, ADMIN_ROLE) && accountStatus(user, now) === 'active';
}

/**
 * First half of the last-admin rule, at the start of a transaction whose change may take away someone's
 * admin rights (roles, disabling, a ban): locks the active admins' rows, in id order, before anything else
 * is locked. Two admins demoting themselves at the same moment are so serialised (and cannot deadlock),
 * and the second sees the first already demoted when it gets the lock. Returns their ids.
 */
export async function lockAdminsIf(tx: ServiceDeps['db'], mayDemote: boolean, now: Date): Promise<number[]> {
  return mayDemote ? lockActiveAdmins(tx, now) : [];
}

/**
 * Second half: refuses a change that turns the only active admin into something else.
 * @see issue 13 ("an admin cannot remove their own admin role or disable themselves when the last admin")
 */
export function assertAdminsRemain(admins: number[], after: Pick<UserRow, 'id' | 'roles' | 'isActive' | 'bannedUntil'>, now: Date): void {
  if (admins.length === 1 && admins[0] === after.id && !isActiveAdmin(after, now)) throw new DomainError('LAST_ADMIN');
}

/**
 * For the operator (CLI): adds or removes one role of the account `login` names. The CLI is how the first
 * admin is made and how a lost last admin is repaired, so the last-admin rule (an API rule) is not applied.
 * Returns the roles after the change, or undefined when no account has that name.
 */
export async function changeUserRole(
  deps: Pick<ServiceDeps, 'db' | 'clock' | 'log'>,
  login: string,
  role: string,
  action: 'add' | 'remove',
): Promise<string[] | undefined> {
  if (!isValidRole(role)) throw new InvalidInputError([{ loc: ['role'], msg: ROLE_RULE, type: 'string_pattern_mismatch' }]);
  const user = await findUserByLogin(deps.db, login);
  if (user === undefined) return undefined;
  const roles = await changeRole(deps.db, user.id, role, action, deps.clock.now());
  if (roles === undefined) return undefined;
  if (roles.length !== user.roles.length) {
    await recordSecurityEvent(deps, { type: 'roles_changed', userId: user.id, details: { before: user.roles, after: roles, via: 'cli' } });
  }
  return roles;
}

export async function rolesOf(deps: Pick<ServiceDeps, 'db'>, login: string): Promise<string[] | undefined> {
  return (await findUserByLogin(deps.db, login))?.roles;
}
