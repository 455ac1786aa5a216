import type { UserRow } from '../db/schema.js';
import { DomainError } from '../errors.js';
import { clearLoginFailures, findLoginFailures, incrementLoginFailures, setLockedUntil } from '../repositories/login-failures.js';
import { recordSecurityEvent } from './audit.js';
import type { ClientInfo, ServiceDeps } from './deps.js';

export interface LockoutPolicy {
  /** Consecutive failures before the first delay. */
  threshold: number;
  /** The first delay; each further failure doubles it. */
  baseDelaySeconds: number;
  maxDelaySeconds: number;
  /** Failures older than this are forgotten. */
  resetAfterSeconds: number;
}

/**
 * One counter per login name as typed (case aside), whether or not an account has it. A counter shared by
 * an account's username and e-mail would be an oracle: 3 failures as `carol` and 2 as `carol@example.com`
 * would lock only if both name one account. The price is one budget per name: two per account.
 */
export function loginLockoutKey(login: string): string {
  return `login:${login.toLowerCase()}`;
}

/**
 * The current password asked for by a password change, by a caller who already holds the account's token:
 * counted per account, apart from the login names, so a stolen token cannot guess the password either.
 */
export function passwordChangeLockoutKey(user: UserRow): string {
  return `password-change:${user.id}`;
}

/**
 * While a delay runs, every attempt is refused before the password is even looked at, so the answer is
 * the same for a right and a wrong password. There is no permanent lock (it would let anyone lock anyone
 * out): with the defaults an attacker gets 44 guesses per login name per 12 hours, 88 for an account's
 * username and e-mail together, under NIST's ceiling of 100.
 * @see NIST SP 800-63B §5.2.2; Keycloak brute-force detection
 */
export async function assertNotLockedOut(
  deps: ServiceDeps,
  key: string,
  code: 'TOO_MANY_LOGIN_ATTEMPTS' | 'TOO_MANY_PASSWORD_ATTEMPTS' = 'TOO_MANY_LOGIN_ATTEMPTS',
): Promise<void> {
  const row = await findLoginFailures(deps.db, key);
  const now = deps.clock.now().getTime();
  if (row?.lockedUntil && row.lockedUntil.getTime() > now) {
    throw new DomainError(code, { retryAfterSeconds: Math.ceil((row.lockedUntil.getTime() - now) / 1000) });
  }
}

export async function recordLoginFailure(deps: ServiceDeps, key: string, userId: number | undefined, client: ClientInfo): Promise<void> {
  const policy = deps.lockoutPolicy;
  const now = deps.clock.now();
  const failures = await incrementLoginFailures(deps.db, key, now, new Date(now.getTime() - policy.resetAfterSeconds * 1000));
  if (failures < policy.threshold) return;
  const delay = Math.min(policy.baseDelaySeconds * 2 ** (failures - policy.threshold), policy.maxDelaySeconds);
  await setLockedUntil(deps.db, key, new Date(now.getTime() + delay * 1000));
  await recordSecurityEvent(deps, { type: 'login_locked', userId: userId ?? null, client, details: { failures, delaySeconds: delay } });
}

export async function clearLoginFailuresFor(deps: ServiceDeps, key: string): Promise<void> {
  await clearLoginFailures(deps.db, key);
}
