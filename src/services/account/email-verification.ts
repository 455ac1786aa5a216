import { hashOpaqueToken } from '../../crypto/opaque-tokens.js';
import type { Database } from '../../db/client.js';
import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { redeemAccountToken } from '../../repositories/account/account-tokens.js';
import { findUserByEmail, findUserById, markEmailVerified } from '../../repositories/users.js';
import { issueMailedToken, queueNoticeMail, underSendLimit, type MailDeps } from './account-mail.js';
import { anyRemoved, removedInWords, removeWaysInAddedBefore } from './recovery.js';
import { endOtherSessions } from '../sessions/sessions.js';
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
 *
 * The first verification of an address is the first proof that the account is its owner's: until then,
 * anyone could have registered it (with the default REQUIRE_VERIFIED_EMAIL=false, signed in and added
 * ways in). So it ends every other session — all but `signedIn`'s, the browser that verifies, when it is
 * this account's — and removes the passkeys, linked identities and mailed tokens added before, as a
 * reset does; the owner's notice lists what went.
 * @see issue 21, finding 1(c)
 */
export async function verifyEmail(
  deps: ServiceDeps,
  token: string,
  client: ClientInfo,
  signedIn?: { userId: number; sessionId: string },
): Promise<UserRow> {
  const result = await deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const spent = await redeemAccountToken(tx, hashOpaqueToken(token), 'verify_email', now);
    const before = spent && (await findUserById(tx, spent.userId));
    const user = spent && (await markEmailVerified(tx, spent.userId, spent.email, now));
    if (user === undefined || before === undefined || before.emailVerified) return user && { user, ended: undefined };
    const keep = signedIn?.userId === user.id ? signedIn.sessionId : undefined;
    return { user, ended: await endWhatCameBeforeVerification(deps, tx, user, keep) };
  });
  if (result === undefined) throw new DomainError('INVALID_MAIL_TOKEN');
  const { user, ended } = result;
  await recordSecurityEvent(deps, { type: 'email_verified', userId: user.id, client, ...(ended && { details: ended }) });
  return (await findUserById(deps.db, user.id)) ?? user;
}

/**
 * The first verification of an address, on `tx` (the caller's transaction, which just marked `user`'s
 * address verified): ends every session but `keep` and removes the ways in and mailed links added
 * before (see `verifyEmail`); the owner is told when something ended. Every way an address gets its first
 * proof calls it — the mailed link, a mailed sign-in code. Returns what ended, for the caller's event.
 * @see issue 21, finding 1(c)
 */
export async function endWhatCameBeforeVerification(
  deps: MailDeps,
  tx: Database,
  user: UserRow,
  keep?: string,
): Promise<{ sessions: number; passkeysRemoved: number; identitiesRemoved: string[] }> {
  const sessions = await endOtherSessions({ ...deps, db: tx }, user.id, keep, 'email_verified');
  const removed = await removeWaysInAddedBefore(tx, user.id);
  if (sessions > 0 || anyRemoved(removed)) await queueNoticeMail(deps, tx, user, 'email_verified', user.email, removedInWords(deps, removed));
  return { sessions, passkeysRemoved: removed.passkeys.length, identitiesRemoved: removed.providers };
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

