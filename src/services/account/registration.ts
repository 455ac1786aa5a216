// Account: registration, profile, e-mail change and verification, reset, password policy, account mail.
// A new account starts here; the rest of the folder changes or ends one.
import type { UserRow } from '../../db/schema.js';
import { insertUser, tokensValidFrom } from '../../repositories/users.js';
import type { ServiceDeps } from '../deps.js';
import { assertAcceptablePassword } from './password-policy.js';
import { type MailDeps } from './account-mail.js';
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
