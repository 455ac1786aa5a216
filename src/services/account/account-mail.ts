import { hashOpaqueToken, newOpaqueToken } from '../../crypto/opaque-tokens.js';
import type { Database } from '../../db/client.js';
import type { UserRow } from '../../db/schema.js';
import { NOTICE_KINDS, noticeMail, requestedMail, type NoticeKind, type RequestedMailKind } from '../../mail/templates.js';
import { deleteAccountTokens, insertAccountToken } from '../../repositories/account/account-tokens.js';
import { countMailsSince, insertMail, lockAddress } from '../../repositories/account/mail-outbox.js';
import { findUserById } from '../../repositories/users.js';
import type { ServiceDeps } from '../deps.js';

export type MailDeps = Pick<ServiceDeps, 'db' | 'clock' | 'log' | 'mail'>;

/**
 * Where each mailed link points, under PUBLIC_URL: an account page whose button spends the token
 * (http/pages/; issue 15). The earlier `/user/…/confirm` pages still work for links already mailed.
 */
export const CONFIRM_PAGES: Record<RequestedMailKind, string> = {
  reset_password: '/account/reset-password',
  verify_email: '/account/verify',
  change_email: '/account/confirm-email',
};

/** Mails a person asked for, counted together by the per-address limit; `sign_in_code` is issue 25's. */
const REQUESTED_KINDS: string[] = ['reset_password', 'verify_email', 'change_email', 'sign_in_code'];

function lifetime(deps: MailDeps, kind: RequestedMailKind): number {
  return kind === 'reset_password' ? deps.mail.resetTokenTtlSeconds : deps.mail.verifyTokenTtlSeconds;
}

function inWords(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}` : `${Math.round(seconds / 60)} minutes`;
}

/**
 * Whether `address` may be sent one more mail it (or someone) asked for: at most MAIL_PER_ADDRESS_PER_HOUR
 * an hour, so the service cannot be used to flood an inbox. Past it the endpoints still answer 202. Run
 * inside the transaction that queues the mail: a lock on the address (released at commit) makes
 * concurrent requests for one address count one after the other, so a burst cannot overshoot the limit.
 */
export async function underSendLimit(deps: MailDeps, tx: Database, address: string): Promise<boolean> {
  await lockAddress(tx, address);
  const since = new Date(deps.clock.now().getTime() - 3600_000);
  return (await countMailsSince(tx, address, REQUESTED_KINDS, since)) < deps.mail.perAddressPerHour;
}

/**
 * Makes a token for `kind` and queues the mail that carries it, on `tx` (the caller's transaction): the
 * token and its mail commit together or not at all. The token is 256 bits from the CSPRNG and stored only
 * as its SHA-256, with its purpose; earlier unspent tokens of the same purpose are voided.
 * @see OWASP ASVS 5.0 V6.4 (authentication factor lifecycle and recovery)
 */
export async function issueMailedToken(
  deps: MailDeps,
  tx: Database,
  user: Pick<UserRow, 'id' | 'username' | 'securityStamp'>,
  kind: RequestedMailKind,
  address: string,
): Promise<void> {
  const now = deps.clock.now();
  const token = newOpaqueToken();
  const ttl = lifetime(deps, kind);
  await deleteAccountTokens(tx, user.id, [kind]);
  await insertAccountToken(tx, {
    userId: user.id,
    purpose: kind,
    tokenHash: hashOpaqueToken(token),
    email: address,
    createdAt: now,
    expiresAt: new Date(now.getTime() + ttl * 1000),
    securityStamp: user.securityStamp,
  });
  // PUBLIC_URL, never the request's Host or X-Forwarded-Host: a forged header must not choose where a
  // reset link points (reset-link poisoning).
  const url = `${deps.mail.publicUrl}${CONFIRM_PAGES[kind]}?token=${token}`;
  const mail = requestedMail(kind, { appName: deps.mail.appName, username: user.username }, { url, token, validFor: inWords(ttl) });
  await insertMail(tx, { userId: user.id, kind, recipient: address, subject: mail.subject, textBody: mail.text, htmlBody: mail.html }, now);
}

/**
 * Whether a notice of `kind` may go to `address` now. Notices cannot be used to flood an inbox (40 renames
 * once queued 40 mails): at most MAIL_PER_ADDRESS_PER_HOUR notices of one kind per address and hour — per
 * kind, so a burst of one cannot use up the budget and hide a notice of another — and to an address the
 * account never proved, only the first notice of the hour. Counted under the address's lock, as requested mails are.
 * @see issue 21, finding 5
 */
async function underNoticeLimit(deps: MailDeps, executor: Database, address: string, kind: NoticeKind, verified: boolean): Promise<boolean> {
  await lockAddress(executor, address);
  const since = new Date(deps.clock.now().getTime() - 3600_000);
  if (!verified && (await countMailsSince(executor, address, NOTICE_KINDS.map((k) => `notice:${k}`), since)) > 0) return false;
  return (await countMailsSince(executor, address, [`notice:${kind}`], since)) < deps.mail.perAddressPerHour;
}

/**
 * Queues a notice to `to` (the account's address unless given) on `executor`, within the notice limits
 * (`underNoticeLimit`); `extra` are sentences added to it (what a reset removed, say).
 */
export async function queueNoticeMail(
  deps: MailDeps,
  executor: Database,
  user: Pick<UserRow, 'id' | 'username' | 'email' | 'emailVerified'>,
  kind: NoticeKind,
  to: string = user.email,
  extra: string[] = [],
): Promise<void> {
  const verified = to.toLowerCase() === user.email.toLowerCase() && user.emailVerified;
  if (!(await underNoticeLimit(deps, executor, to, kind, verified))) {
    deps.log.info({ userId: user.id, kind }, 'notice not mailed: the address reached its hourly limit of notices');
    return;
  }
  const mail = noticeMail(kind, { appName: deps.mail.appName, username: user.username }, extra);
  await insertMail(
    executor,
    { userId: user.id, kind: `notice:${kind}`, recipient: to, subject: mail.subject, textBody: mail.text, htmlBody: mail.html },
    deps.clock.now(),
  );
}

/**
 * Queues a notice mail to a user's address ("your password was changed", "a second factor was turned
 * on"…): for other services (TOTP, admin) to call. False when there is no such user.
 * @see OWASP ASVS 5.0 6.3.7 (users are notified of changes to their authentication details)
 */
export async function queueNotice(deps: MailDeps, userId: number, kind: NoticeKind): Promise<boolean> {
  const user = await findUserById(deps.db, userId);
  if (user === undefined) return false;
  await queueNoticeMail(deps, deps.db, user, kind);
  return true;
}
