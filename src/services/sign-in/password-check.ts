import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { findUserByLogin } from '../../repositories/users.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import {
  attemptAbandoned,
  attemptFailed,
  attemptSucceeded,
  beginAttempt,
  foldLoginName,
  loginLockoutKey,
  passwordChangeLockoutKey,
  type Attempt,
} from './lockout.js';
import { upgradePasswordHash } from './password-rehash.js';

/**
 * Checks a username-or-email and password, behind the lockout of that login name. Unknown users and wrong
 * passwords are indistinguishable, in body and in time. Returns the user row as read before the check (with
 * the hash now stored, if it was upgraded): a session is opened only while the row still holds these
 * credentials (see `startSession`).
 */
export async function authenticate(deps: ServiceDeps, login: string, password: string, client: ClientInfo): Promise<UserRow> {
  // Concurrent logins under one name take turns (see `loginGate`); one that waits too long is told to retry.
  const turnRefused = () => new DomainError('TOO_MANY_LOGIN_ATTEMPTS', { retryAfterSeconds: 1 });
  return deps.loginGate.run(foldLoginName(login), () => checkCredentials(deps, login, password, client), turnRefused);
}

async function checkCredentials(deps: ServiceDeps, login: string, password: string, client: ClientInfo): Promise<UserRow> {
  const attempt = await beginAttempt(deps, loginLockoutKey(login));
  const { user, match, rehash } = await checkOrAbandon(deps, attempt, async () => {
    const user = await findUserByLogin(deps.db, login);
    // An unknown user is checked against a dummy hash: "no such user" takes as long as "wrong password".
    const verification = user === undefined ? await deps.hasher.checkNobody(password) : await deps.hasher.check(password, user.hashPassword);
    return { user, ...verification };
  });
  // A disabled account's right password is answered (403) by the login service, after this check.
  if (user === undefined || !match) {
    await recordSecurityEvent(deps, { type: 'login_failed', userId: user?.id ?? null, client, details: { login: login.slice(0, 254) } });
    await attemptFailed(deps, attempt, user?.id, client);
    throw new DomainError('INVALID_CREDENTIALS');
  }
  await attemptSucceeded(deps, attempt);
  if (rehash) return { ...user, hashPassword: await upgradePasswordHash(deps, user, password) };
  return user;
}

/** Runs a password check; if it ends without a verdict (an error, e.g. the hash queue is full), the attempt is taken back. */
async function checkOrAbandon<T>(deps: ServiceDeps, attempt: Attempt, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    await attemptAbandoned(deps, attempt);
    throw error;
  }
}

/**
 * The current password, asked for again before a sensitive change (password, e-mail address, deletion),
 * behind the account's own lockout (see `passwordChangeLockoutKey`): a stolen access token cannot guess it.
 */
export async function verifyCurrentPassword(deps: ServiceDeps, user: UserRow, password: string, client: ClientInfo): Promise<void> {
  const attempt = await beginAttempt(deps, passwordChangeLockoutKey(user), 'TOO_MANY_PASSWORD_ATTEMPTS');
  if (!(await checkOrAbandon(deps, attempt, () => deps.hasher.verify(password, user.hashPassword)))) {
    await recordSecurityEvent(deps, { type: 'password_change_failed', userId: user.id, client });
    await attemptFailed(deps, attempt, user.id, client);
    throw new DomainError('INCORRECT_PASSWORD');
  }
  await attemptSucceeded(deps, attempt);
}
