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
 * One counter per account however the user names it (username or e-mail), and one per unknown login name,
 * so an unknown account is throttled exactly like a real one and lockout reveals nothing.
 */
export function lockoutKey(user: UserRow | undefined, login: string): string {
  return user === undefined ? `login:${login.toLowerCase()}` : `user:${user.id}`;
}

/**
 * While a delay runs, every attempt is refused before the password is even looked at, so the answer is
 * the same for a right and a wrong password. There is no permanent lock (it would let anyone lock anyone
 * out): with the defaults an attacker gets about 55 guesses per 12 hours, under NIST's ceiling of 100.
 * @see NIST SP 800-63B §5.2.2; Keycloak brute-force detection
 */
export async function assertNotLockedOut(deps: ServiceDeps, key: string): Promise<void> {
  const row = await findLoginFailures(deps.db, key);
  const now = deps.clock.now().getTime();
  if (row?.lockedUntil && row.lockedUntil.getTime() > now) {
    throw new DomainError('TOO_MANY_LOGIN_ATTEMPTS', { retryAfterSeconds: Math.ceil((row.lockedUntil.getTime() - now) / 1000) });
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
