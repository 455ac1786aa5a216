import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { clearLoginFailures, deleteLoginFailures, findLoginFailures, releaseLoginAttempt, reserveLoginAttempt } from '../../repositories/login-failures.js';
import { findUserByLogin } from '../../repositories/users.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, LockoutPolicy, ServiceDeps } from '../deps.js';
import { KeyedGate } from '../../keyed-gate.js';

/** Logins waiting under one name, beyond those running; one more is told to come back (429). */
const MAX_WAITING_LOGINS = 32;

/**
 * Concurrent logins under one name, in this process: fewer than the lockout threshold run at once, so
 * attempts in flight (each counted as failed when it begins) can never add up to a delay by themselves,
 * and eight devices logging in at once with the right password all get in. The surplus waits its turn
 * (bounded, with a deadline) instead of being refused. What the lockout protects is unchanged: each
 * attempt is still counted in the database when it begins, so a burst of guesses gets no more checks than
 * the same guesses one at a time, across instances too.
 * @see issue 12, point 7; Keycloak issue #48272
 */
export function loginGate(policy: LockoutPolicy): KeyedGate {
  return new KeyedGate({
    concurrency: Math.max(1, policy.threshold - 1),
    maxWaiting: MAX_WAITING_LOGINS,
    waitMs: (policy.queueWaitSeconds ?? 10) * 1000,
  });
}

/**
 * One counter per login name as typed (case aside, exactly as the account lookup ignores it: the
 * repository lowers keys with PostgreSQL's lower()), whether or not an account has it. A counter shared by
 * an account's username and e-mail would be an oracle: 3 failures as `carol` and 2 as `carol@example.com`
 * would lock only if both name one account. The price is one budget per name: two per account.
 */
export function loginLockoutKey(login: string): string {
  return `login:${login}`;
}

/**
 * A login name folded in JavaScript as PostgreSQL's lower() folds it, for counters kept outside the
 * database (the per-account request budget, the wait queue of concurrent logins). Letter by letter, as
 * lower() does: so a final Σ is σ, not ς, and İ is i, not i + U+0307. Exact for these and the ordinary
 * pairs (K/k Kelvin sign, ẞ/ß); the lockout itself, in the database, is exact by construction.
 * @see issue 12, point 1
 */
export function foldLoginName(login: string): string {
  let folded = '';
  for (const letter of login) folded += letter === '\u0130' ? 'i' : letter.toLowerCase();
  return folded;
}

/**
 * The current password asked for by a password change, by a caller who already holds the account's token:
 * counted per account, apart from the login names, so a stolen token cannot guess the password either.
 */
export function passwordChangeLockoutKey(user: UserRow): string {
  return `password-change:${user.id}`;
}

/**
 * Codes of the second factor (one-time or recovery), wherever they are typed: counted per account, so
 * guessing them meets the same delays as guessing a password (Keycloak counts OTP failures likewise).
 */
export function secondFactorLockoutKey(userId: number): string {
  return `mfa:${userId}`;
}

/** Every lockout key of an account: its two login names, its password changes and its second-factor codes. */
export function accountLockoutKeys(user: UserRow): string[] {
  return [loginLockoutKey(user.username), loginLockoutKey(user.email), passwordChangeLockoutKey(user), secondFactorLockoutKey(user.id)];
}

/** An attempt under way on one lockout key, already counted as failed. */
export interface Attempt {
  readonly key: string;
  readonly failures: number;
  /** The delay this attempt's failure brings, set when it began; null below the threshold. */
  readonly lockedUntil: Date | null;
}

type LockedOutCode = 'TOO_MANY_LOGIN_ATTEMPTS' | 'TOO_MANY_PASSWORD_ATTEMPTS' | 'TOO_MANY_CODE_ATTEMPTS';

/**
 * Starts a password check on `key`. While a delay runs the attempt is refused before the password is even
 * looked at, and not counted, so the answer is the same for a right and a wrong password. Otherwise it is
 * counted as failed before the password is checked, and the delay its failure would bring is set by the
 * same statement: concurrent guesses cannot all slip in before the first of them fails (20 at once got
 * 20 checks when the failure was counted after the check). `attemptSucceeded` clears the count;
 * `attemptAbandoned` takes back one that was never decided. There is no permanent lock (it would let
 * anyone lock anyone out): with the defaults an attacker gets 44 guesses per login name per 12 hours, 88
 * for an account's username and e-mail together, under NIST's ceiling of 100.
 * @see NIST SP 800-63B §5.2.2; Keycloak brute-force detection
 */
export async function beginAttempt(deps: ServiceDeps, key: string, code: LockedOutCode = 'TOO_MANY_LOGIN_ATTEMPTS'): Promise<Attempt> {
  const now = deps.clock.now();
  const reserved = await reserveLoginAttempt(deps.db, key, now, deps.lockoutPolicy);
  if (reserved === undefined) {
    const lockedUntil = (await findLoginFailures(deps.db, key))?.lockedUntil?.getTime() ?? now.getTime();
    throw new DomainError(code, { retryAfterSeconds: Math.max(1, Math.ceil((lockedUntil - now.getTime()) / 1000)) });
  }
  return { key, ...reserved };
}

/** The failure was counted when the attempt began; what is left is to report the delay it brought. */
export async function attemptFailed(deps: ServiceDeps, attempt: Attempt, userId: number | undefined, client: ClientInfo): Promise<void> {
  if (attempt.lockedUntil === null) return;
  const delaySeconds = Math.round((attempt.lockedUntil.getTime() - deps.clock.now().getTime()) / 1000);
  await recordSecurityEvent(deps, { type: 'login_locked', userId: userId ?? null, client, details: { key: attempt.key, failures: attempt.failures, delaySeconds } });
}

export async function attemptSucceeded(deps: ServiceDeps, attempt: Attempt): Promise<void> {
  await clearLoginFailures(deps.db, attempt.key);
}

/** An attempt that ended without a verdict (the hash queue was full, say) is not a failure: taken back. */
export async function attemptAbandoned(deps: ServiceDeps, attempt: Attempt): Promise<void> {
  await releaseLoginAttempt(deps.db, attempt.key, attempt.lockedUntil !== null);
}

/**
 * For support: ends the delay and the count of a login name and, when the name is an account's, of its
 * other name and of its password changes. Audited. Returns how many counts there were.
 */
export async function clearLockouts(deps: Pick<ServiceDeps, 'db' | 'clock' | 'log'>, login: string): Promise<number> {
  const user = await findUserByLogin(deps.db, login);
  const keys = user ? accountLockoutKeys(user) : [loginLockoutKey(login)];
  const cleared = await deleteLoginFailures(deps.db, keys);
  await recordSecurityEvent(deps, { type: 'lockout_cleared', userId: user?.id ?? null, details: { login: login.slice(0, 254), cleared } });
  return cleared;
}
