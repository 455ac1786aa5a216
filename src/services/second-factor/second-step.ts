// Second factor: TOTP enrolment and removal (totp-enrolment.ts), spending a code or recovery code
// (proofs.ts), passkeys (passkeys.ts), and this file: the step a login takes after its first factor.
import { accountStatus } from '../account-status.js';
import { hashOpaqueToken, newOpaqueToken } from '../../crypto/opaque-tokens.js';
import type { MfaChallengeRow, UserRow } from '../../db/schema.js';
import { DomainError, MfaRequiredError } from '../../errors.js';
import { deleteDeadMfaChallenges, findLiveMfaChallenge, insertMfaChallenge, spendMfaChallenge } from '../../repositories/second-factor/mfa-challenges.js';
import { findTotpFactor, isConfirmed } from '../../repositories/second-factor/totp-factors.js';
import { findUserById } from '../../repositories/users.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { openLoginSession, type LoginTokens } from '../sign-in/login-session.js';
import type { PasswordWeakness } from '../account/password-policy.js';
import { behindSecondFactorLockout, spendProof, type SecondFactorProof } from './proofs.js';

/** How long the second step of a login may take. */
export const MFA_TOKEN_TTL_SECONDS = 5 * 60;

/**
 * Runs after the password of a login was found right, before a session is opened: for an account with a
 * second factor the login stops here with `403 mfa_required` and an `mfa_token` — short-lived, single
 * use, stored only as a hash, bound to this user and to this password check (it carries the check's
 * `weak_password` finding on). No session, no token. A wrong password never gets here: it is the plain 401.
 * @see https://auth0.com/docs/secure/multi-factor-authentication/authenticate-using-ropg-flow-with-mfa
 */
export async function requireSecondFactor(
  deps: ServiceDeps,
  user: UserRow,
  weakness: PasswordWeakness | undefined,
  client: ClientInfo,
  /** How the first step was passed, when not by password (a provider sign-in, issue 17). */
  firstAmr?: string[],
): Promise<void> {
  if (!user.mfaEnabled) return;
  const mfaToken = newOpaqueToken();
  const now = deps.clock.now();
  // The user's spent and expired challenges go as a new one comes: the table holds only live ones.
  await deleteDeadMfaChallenges(deps.db, user.id, now);
  await insertMfaChallenge(deps.db, {
    tokenHash: hashOpaqueToken(mfaToken),
    userId: user.id,
    createdAt: now,
    expiresAt: new Date(now.getTime() + MFA_TOKEN_TTL_SECONDS * 1000),
    securityStamp: user.securityStamp,
    weakPassword: weakness ?? null,
    firstAmr: firstAmr ?? null,
  });
  await recordSecurityEvent(deps, { type: 'mfa_required', userId: user.id, client });
  throw new MfaRequiredError(mfaToken);
}

/**
 * A password change or logout-all after the password check voids its mfa_token, as it voids tokens: both
 * bump the security stamp (a counter, so one in the same second as the check is seen too).
 */
const voidedSince = (challenge: MfaChallengeRow, user: UserRow) => challenge.securityStamp !== user.securityStamp;

/**
 * The second step of a login (grant types `mfa_otp` and `mfa_recovery_code`): a code, then the session.
 * The code is spent and the `mfa_token` claimed in one transaction: of concurrent redemptions of one
 * token exactly one opens a session, and a loser's code stays unspent. A wrong code leaves the token for
 * another try, behind the account's lockout; it ends when it expires or is used.
 */
export async function loginWithSecondFactor(deps: ServiceDeps, mfaToken: string, proof: SecondFactorProof, client: ClientInfo): Promise<LoginTokens> {
  const tokenHash = hashOpaqueToken(mfaToken);
  const challenge = await findLiveMfaChallenge(deps.db, tokenHash, deps.clock.now());
  if (challenge === undefined) throw new DomainError('INVALID_MFA_TOKEN');
  const user = await findUserById(deps.db, challenge.userId);
  if (user === undefined || accountStatus(user, deps.clock.now()) !== 'active' || voidedSince(challenge, user)) throw new DomainError('INVALID_MFA_TOKEN');
  const secondFactor = 'otp' in proof ? 'otp' : 'recovery_code';
  const claimed = await behindSecondFactorLockout(deps, user.id, client, 'INVALID_OTP', { secondFactor }, () =>
    deps.db.transaction(async (tx) => {
      const factor = await findTotpFactor(tx, user.id);
      // Reset or disabled since the password check: this login has nothing left to prove.
      if (!isConfirmed(factor)) throw new DomainError('INVALID_MFA_TOKEN');
      if (!(await spendProof(deps, tx, factor, proof))) return undefined;
      const spent = await spendMfaChallenge(tx, tokenHash, deps.clock.now());
      // Spent by a concurrent redemption (or just expired): throwing rolls this code's spending back.
      if (spent === undefined) throw new DomainError('INVALID_MFA_TOKEN');
      return spent;
    }),
  );
  if (secondFactor === 'recovery_code') await recordSecurityEvent(deps, { type: 'recovery_code_used', userId: user.id, client });
  const weakness = (claimed.weakPassword ?? undefined) as PasswordWeakness | undefined;
  return openLoginSession(deps, user, { amr: [...(claimed.firstAmr ?? ['pwd']), 'otp'], weakness, secondFactor }, client);
}
