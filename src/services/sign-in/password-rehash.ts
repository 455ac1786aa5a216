import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { replaceOutdatedPasswordHash } from '../../repositories/password-hashes.js';
import { findUserById } from '../../repositories/users.js';
import type { ServiceDeps } from '../deps.js';

/**
 * After a successful login whose stored hash is of another algorithm or cost than the current policy (or
 * made from the password before NFKC), stores a fresh hash of the same password: users move to the new
 * policy without noticing. Best effort: when the hasher is busy the login still succeeds and the next
 * one tries again. Returns the hash the row holds for this password now (the replacement, another login's
 * replacement, or the old one), which the login's session is then opened against.
 * @see OWASP Password Storage Cheat Sheet, "Upgrading legacy hashes"
 */
export async function upgradePasswordHash(deps: Pick<ServiceDeps, 'db' | 'hasher' | 'log'>, user: UserRow, password: string): Promise<string> {
  let replacement: string;
  try {
    replacement = await deps.hasher.hash(password);
  } catch (error) {
    if (error instanceof DomainError && error.code === 'SERVICE_BUSY') return user.hashPassword;
    throw error;
  }
  if (await replaceOutdatedPasswordHash(deps.db, user.id, user.hashPassword, replacement)) {
    deps.log.info({ userId: user.id }, 'password hash upgraded to the current policy');
    return replacement;
  }
  // Someone else replaced the hash meanwhile. A password change moves the security stamp; a concurrent
  // login's upgrade of the same password does not, and its hash is as good as ours.
  const current = await findUserById(deps.db, user.id);
  return current !== undefined && current.securityStamp === user.securityStamp ? current.hashPassword : user.hashPassword;
}
