import { hashOpaqueToken } from '../../crypto/opaque-tokens.js';
import type { Database } from '../../db/client.js';
import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { redeemAccountToken } from '../../repositories/account/account-tokens.js';
import { findUserByEmail, markEmailVerified } from '../../repositories/users.js';
import { issueMailedToken, underSendLimit, type MailDeps } from './account-mail.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';

/**
 * `POST /user/request-verify-token`: answers at once and looks the address up afterwards, like
 * forgot-password, so it reveals nothing about which addresses have accounts.
 */
export function requestVerifyToken(deps: ServiceDeps, email: string, client: ClientInfo): void {
  deps.deferred.run('verification request', () => requestVerification(deps, email, client));
}

/** Mails a verification link if `email` is an unverified active account's and under its sending limit. */
export async function requestVerification(deps: ServiceDeps, email: string, client?: ClientInfo): Promise<boolean> {
  const user = await findUserByEmail(deps.db, email);
  if (user === undefined || !user.isActive || user.emailVerified) return false;
  const queued = await deps.db.transaction(async (tx) => {
    if (!(await underSendLimit(deps, tx, user.email))) return false;
    await issueMailedToken(deps, tx, user, 'verify_email', user.email);
    return true;
  });
  if (!queued) {
    deps.log.info({ userId: user.id, reqId: client?.requestId }, 'verification not mailed: the address reached its hourly limit');
    return false;
  }
  await recordSecurityEvent(deps, { type: 'verification_requested', userId: user.id, client });
  return true;
}

/** At registration, in its transaction (the user row, the token and the mail commit together). */
export async function queueVerificationAtRegistration(deps: MailDeps, tx: Database, user: UserRow): Promise<void> {
  await issueMailedToken(deps, tx, user, 'verify_email', user.email);
}

/**
 * `POST /user/verify`: spends the token (one conditional DELETE) and marks the address verified, as long
 * as the account still has the address the token was mailed to.
 */
export async function verifyEmail(deps: ServiceDeps, token: string, client: ClientInfo): Promise<UserRow> {
  const user = await deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const spent = await redeemAccountToken(tx, hashOpaqueToken(token), 'verify_email', now);
    return spent && (await markEmailVerified(tx, spent.userId, spent.email, now));
  });
  if (user === undefined) throw new DomainError('INVALID_MAIL_TOKEN');
  await recordSecurityEvent(deps, { type: 'email_verified', userId: user.id, client });
  return user;
}

/**
 * REQUIRE_VERIFIED_EMAIL: called once the password was found right, before a session opens, so a guesser
 * learns nothing from it (a wrong password is always the plain 401 first).
 */
export async function assertEmailVerified(deps: ServiceDeps, user: UserRow, client: ClientInfo): Promise<void> {
  if (!deps.mail.requireVerifiedEmail || user.emailVerified) return;
  await recordSecurityEvent(deps, { type: 'login_unverified', userId: user.id, client });
  throw new DomainError('EMAIL_NOT_VERIFIED');
}

