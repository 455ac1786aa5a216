// Passwordless sign-in, first half: `POST /user/passwordless/start` and the page's "Email me a sign-in code".
import { signInMail } from '../../mail/templates.js';
import { insertMail } from '../../repositories/account/mail-outbox.js';
import { replaceSignInCode } from '../../repositories/passwordless/sign-in-codes.js';
import { findUserByEmail } from '../../repositories/users.js';
import { underSendLimit } from '../account/account-mail.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { hashMailedCode, hashScreenCode, hashSecret, newBrowserBinding, newLinkToken, newMailedCode, newScreenCode } from './codes.js';

/** Where the mailed link points, under PUBLIC_URL: a page whose button spends it (http/pages/passwordless-pages.ts). */
export const LINK_PAGE = '/account/login/email/link';

/** What the browser that asked keeps: a cookie that lets the link sign it in, and a code to show on its screen. */
export interface BrowserRequest {
  browserBinding: string;
  screenCode: string;
  /** Where the link sends the browser once signed in: the page's checked `redirect_to`, if any. */
  redirectTo?: string | undefined;
}

/**
 * Answers at once; the address is looked up afterwards (deferred work), so the answer — status, body,
 * headers and time — is the same whether or not an account has it, as forgot-password's is. With
 * `browser`, the secrets that bind the link to this browser are made now, for every address alike.
 * @see OWASP ASVS 5.0 6.3.8 (no enumeration), 6.6.3 (out-of-band codes rate limited)
 */
export function startPasswordless(deps: ServiceDeps, email: string, client: ClientInfo, browser: { redirectTo?: string | undefined }): BrowserRequest;
export function startPasswordless(deps: ServiceDeps, email: string, client: ClientInfo): undefined;
export function startPasswordless(deps: ServiceDeps, email: string, client: ClientInfo, browser?: { redirectTo?: string | undefined }): BrowserRequest | undefined {
  const request = browser ? { browserBinding: newBrowserBinding(), screenCode: newScreenCode(), redirectTo: browser.redirectTo } : undefined;
  deps.deferred.run('sign-in code request', () => mailSignInCode(deps, email, client, request));
  return request;
}

/**
 * Mails a code and a link to `email` when it is an account's (any state: a disabled account is refused
 * only after the code, as after a right password), or to any address with PASSWORDLESS_SIGNUP. The row and
 * the mail commit together, under the per-address mail limit; the address's older code is voided.
 */
export async function mailSignInCode(deps: ServiceDeps, email: string, client?: ClientInfo, browser?: BrowserRequest): Promise<boolean> {
  const user = await findUserByEmail(deps.db, email);
  if (user === undefined && !deps.passwordless.signup) return false;
  const address = user?.email ?? email;
  const code = newMailedCode();
  const link = newLinkToken();
  const linkHash = hashSecret(link);
  const now = deps.clock.now();
  const key = deps.passwordless.codeKey;
  const queued = await deps.db.transaction(async (tx) => {
    if (!(await underSendLimit(deps, tx, address))) return false;
    await replaceSignInCode(tx, {
      email: address,
      userId: user?.id ?? null,
      securityStamp: user?.securityStamp ?? null,
      codeHash: hashMailedCode(key, address, code),
      linkHash,
      browserHash: browser ? hashSecret(browser.browserBinding) : null,
      screenCodeHash: browser ? hashScreenCode(key, linkHash, browser.screenCode) : null,
      redirectTo: browser?.redirectTo || null,
      createdAt: now,
      expiresAt: new Date(now.getTime() + deps.passwordless.codeTtlSeconds * 1000),
    });
    // PUBLIC_URL, never the request's Host: a forged header must not choose where the link points.
    const url = `${deps.mail.publicUrl}${LINK_PAGE}?token=${link}`;
    const minutes = Math.round(deps.passwordless.codeTtlSeconds / 60);
    const mail = signInMail(deps.mail.appName, user?.username, { code, url, validFor: `${minutes} minute${minutes === 1 ? '' : 's'}` });
    await insertMail(tx, { userId: user?.id ?? null, kind: 'sign_in_code', recipient: address, subject: mail.subject, textBody: mail.text, htmlBody: mail.html }, now);
    return true;
  });
  if (!queued) {
    deps.log.info({ userId: user?.id, reqId: client?.requestId }, 'sign-in code not mailed: the address reached its hourly limit');
    return false;
  }
  await recordSecurityEvent(deps, { type: 'sign_in_code_requested', userId: user?.id ?? null, client, details: { newAccount: user === undefined } });
  return true;
}
