// Passwordless sign-in, second half: a mailed code (the token endpoint's `email_otp` grant, the code page)
// or the mailed link (its page's button), then the same end as every other way in.
import type { Database } from '../../db/client.js';
import type { PasswordlessCodeRow, UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { countWrongProof, findLiveSignInCode, spendSignInCode, type CodeProof, type CodeSelector } from '../../repositories/passwordless/sign-in-codes.js';
import { findUserById, markEmailVerified } from '../../repositories/users.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { requireSecondFactor } from '../second-factor/second-step.js';
import { attemptAbandoned, attemptFailed, attemptSucceeded, beginAttempt, loginLockoutKey } from '../sign-in/lockout.js';
import { assertMaySignIn, openLoginSession, type LoginTokens } from '../sign-in/login-session.js';
import { hashMailedCode, hashScreenCode, hashSecret } from './codes.js';
import { accountForNewAddress } from './signup.js';
import { endWhatCameBeforeVerification } from '../account/email-verification.js';

/**
 * `amr` of a session opened by a mailed code or link. RFC 8176 has no value for e-mail; `otp` names
 * HOTP/TOTP there, and a client testing `amr.includes('otp')` for a second factor must not find it after
 * a mailbox alone. So `email`, after the registered `sms` ("confirmation by a message to a registered
 * number"); with TOTP as the second step it becomes `["email", "otp"]`, as a password's is `["pwd", "otp"]`.
 * @see RFC 8176 §2; docs/PASSWORDLESS.md
 */
export const EMAIL_AMR = ['email'];

/** How the browser that opened a mailed link proves it may use it (see `linkOpenedIn`). */
export type LinkProof = { browserBinding: string } | { screenCode: string };

/** The token endpoint's `email_otp` grant and the code page: the 8-digit code mailed to `email`. */
export async function loginWithEmailCode(deps: ServiceDeps, email: string, code: string, client: ClientInfo): Promise<LoginTokens> {
  if (!deps.passwordless.enabled) throw new DomainError('UNSUPPORTED_GRANT_TYPE');
  const proof = { codeHash: hashMailedCode(deps.passwordless.codeKey, email, code) };
  return finishSignIn(deps, await redeem(deps, email, { email }, proof, client, 'email_code'), client);
}

/** A live mailed link, as its page sees it. */
export interface OpenedLink {
  /** This browser holds the cookie set when the link was asked for. */
  sameBrowser: boolean;
  /** Where the asking page meant to go after signing in (the page checks it against the allow-list again). */
  redirectTo: string | null;
}

/**
 * How a mailed link was opened; undefined when it is unknown, spent or expired. Reads only: a mail scanner
 * following the link spends nothing.
 */
export async function linkOpenedIn(deps: ServiceDeps, linkToken: string, browserBinding: string | undefined): Promise<OpenedLink | undefined> {
  const row = await findLiveSignInCode(deps.db, { linkHash: hashSecret(linkToken) }, deps.clock.now());
  if (row === undefined) return undefined;
  const sameBrowser = browserBinding !== undefined && row.browserHash !== null && row.browserHash === hashSecret(browserBinding);
  return { sameBrowser, redirectTo: row.redirectTo };
}

/**
 * The link's button. It signs in the browser that asked for the link (its cookie), or another browser
 * that types the code shown on the asking screen: a link forwarded, or opened by whoever reads the mail
 * elsewhere, hands over no session. A link asked for through the API has no screen code: only the
 * mailed code works for it.
 * @see docs/PASSWORDLESS.md ("Links"); OWASP ASVS 5.0 6.6.2
 */
export async function loginWithEmailLink(deps: ServiceDeps, linkToken: string, proof: LinkProof, client: ClientInfo): Promise<LoginTokens> {
  const linkHash = hashSecret(linkToken);
  const row = await findLiveSignInCode(deps.db, { linkHash }, deps.clock.now());
  if (row === undefined) throw new DomainError('INVALID_MAIL_TOKEN');
  const spend: CodeProof =
    'browserBinding' in proof ? { browserHash: hashSecret(proof.browserBinding) } : { screenCodeHash: hashScreenCode(deps.passwordless.codeKey, linkHash, proof.screenCode) };
  return finishSignIn(deps, await redeem(deps, row.email, { linkHash }, spend, client, 'email_link'), client);
}

/** As after a right password: disabled or banned (403), the second factor (403 mfa_required), the session. */
async function finishSignIn(deps: ServiceDeps, user: UserRow, client: ClientInfo): Promise<LoginTokens> {
  await assertMaySignIn(deps, user, client);
  await requireSecondFactor(deps, user, undefined, client, EMAIL_AMR);
  return openLoginSession(deps, user, { amr: EMAIL_AMR }, client);
}

/**
 * Spends the code behind the lockout of the login name `login` (the address), as a password is checked:
 * a wrong code counts there like a wrong password, and against the code itself (5 and it is dead). Every
 * wrong code counts, whether or not the address has a code or an account, so the lockout tells nothing.
 * The code is spent, and the address marked verified, in one transaction.
 * @see NIST SP 800-63B §5.1.3.1, §5.2.2; OWASP ASVS 5.0 6.6.3
 */
async function redeem(deps: ServiceDeps, login: string, by: CodeSelector, proof: CodeProof, client: ClientInfo, method: string): Promise<UserRow> {
  const attempt = await beginAttempt(deps, loginLockoutKey(login));
  const now = deps.clock.now();
  let user: UserRow | undefined;
  try {
    user = await deps.db.transaction(async (tx) => {
      const row = await spendSignInCode(tx, by, proof, now);
      return row && (await accountOf(deps, tx, row, client));
    });
  } catch (error) {
    await attemptAbandoned(deps, attempt);
    throw error;
  }
  if (user === undefined) {
    await countWrongProof(deps.db, by, now);
    await recordSecurityEvent(deps, { type: 'login_failed', client, details: { login: login.slice(0, 254), method } });
    await attemptFailed(deps, attempt, undefined, client);
    throw new DomainError('INVALID_SIGN_IN_CODE');
  }
  await attemptSucceeded(deps, attempt);
  return user;
}

/**
 * The account a spent code signs in to, with its address now verified; undefined when the code was voided
 * meanwhile: the account's password was reset or every session ended (its stamp moved on), or it moved to
 * another address.
 */
async function accountOf(deps: ServiceDeps, tx: Database, row: PasswordlessCodeRow, client: ClientInfo): Promise<UserRow | undefined> {
  const now = deps.clock.now();
  if (row.userId === null) {
    if (!deps.passwordless.signup) return undefined;
    const found = await accountForNewAddress(deps, tx, row.email);
    if (found?.created) await recordSecurityEvent({ ...deps, db: tx }, { type: 'passwordless_account_created', userId: found.user.id, client });
    return found?.user;
  }
  const user = await findUserById(tx, row.userId);
  if (user === undefined || user.securityStamp !== row.securityStamp) return undefined;
  if (user.emailVerified) return user.email.toLowerCase() === row.email.toLowerCase() ? user : undefined;
  const verified = await markEmailVerified(tx, user.id, row.email, now);
  if (verified === undefined) return undefined;
  // The code is the address's first proof: what came before it ends, as at a verification link (issue 21).
  const ended = await endWhatCameBeforeVerification(deps, tx, verified);
  await recordSecurityEvent({ ...deps, db: tx }, { type: 'email_verified', userId: user.id, client, details: { by: 'sign_in_code', ...ended } });
  return findUserById(tx, user.id);
}
