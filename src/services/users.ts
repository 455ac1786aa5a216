import type { UserRow } from '../db/schema.js';
import { DomainError } from '../errors.js';
import { findUserByLogin, insertUser, tokensValidFrom, updatePasswordHash } from '../repositories/users.js';
import { recordSecurityEvent } from './audit.js';
import type { ClientInfo, ServiceDeps } from './deps.js';
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
import { endAllSessions } from './sessions.js';
import { assertAcceptablePassword } from './passwords-policy.js';
import { upgradePasswordHash } from './password-rehash.js';
import { queueNoticeMail, type MailDeps } from './account-mail.js';
import { queueVerificationAtRegistration } from './email-verification.js';

export interface PublicUser {
  id: number;
  username: string;
  email: string;
  email_verified: boolean;
}

export function toPublicUser(user: UserRow): PublicUser {
  return { id: user.id, username: user.username, email: user.email, email_verified: user.emailVerified };
}

/** The profile of `GET /user/user`: the public fields and whether logins ask for a second factor. */
export function toProfile(user: UserRow): PublicUser & { mfa_enabled: boolean } {
  return { ...toPublicUser(user), mfa_enabled: user.mfaEnabled };
}

/**
 * Hashes before inserting, so a duplicate sign-up costs the same time as a successful one; the database's
 * unique indexes decide concurrent sign-ups. A new account accepts no access token issued before it
 * existed: the Python service's tokens name only a username, and one issued to a deleted account of the
 * same name must not speak for this one (issue 12, point 3).
 */
export async function registerUser(
  deps: Pick<ServiceDeps, 'db' | 'hasher' | 'passwordPolicy' | 'clock'> & Partial<MailDeps>,
  input: { username: string; email: string; password: string },
): Promise<PublicUser> {
  assertAcceptablePassword(deps, input.password, 'password', input);
  const hashPassword = await deps.hasher.hash(input.password);
  const tokensValidAfter = tokensValidFrom(deps.clock.now());
  const row = { username: input.username, email: input.email, hashPassword, tokensValidAfter };
  // With mail set up, the account, its verification token and the mail commit together. The CLI passes no
  // mail settings and mails nothing.
  const { mail, clock, log } = deps;
  const mailing = mail?.verifyOnRegistration && log ? { db: deps.db, mail, clock, log } : undefined;
  const user = mailing
    ? await deps.db.transaction(async (tx) => {
        const user = await insertUser(tx, row);
        await queueVerificationAtRegistration(mailing, tx, user);
        return user;
      })
    : await insertUser(deps.db, row);
  return toPublicUser(user);
}

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
