import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { recordLogin } from '../../repositories/users.js';
import { refuseDisabledAccount } from '../account-status.js';
import { recordSecurityEvent } from '../audit.js';
import { assertEmailVerified } from '../account/email-verification.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import type { PasswordWeakness } from '../account/password-policy.js';
import { startSession } from '../sessions/sessions.js';
import { issueTokens, type TokenPair } from '../sessions/token-pairs.js';

/** A login's reply: `weak_password` when the password breaks today's rules (see `passwordWeakness`). */
export type LoginTokens = TokenPair & { weak_password?: PasswordWeakness };

export interface CompletedLogin {
  /** How the login was authenticated (RFC 8176): `['pwd']`, or `['pwd', 'otp']` with the second factor. */
  amr: string[];
  weakness?: PasswordWeakness | undefined;
  /** Audited with the login: which second factor was used. */
  secondFactor?: 'otp' | 'recovery_code';
}

/**
 * What every way in checks once the first factor is proved (a right password, a passkey, a provider's ID
 * token), in this order: a disabled or banned account is refused (403), then, with REQUIRE_VERIFIED_EMAIL,
 * an unverified address (403). Never before the proof: a guesser learns nothing from them.
 */
export async function assertMaySignIn(deps: ServiceDeps, user: UserRow, client: ClientInfo): Promise<void> {
  await refuseDisabledAccount(deps, user, client);
  await assertEmailVerified(deps, user, client);
}

/** The end of every login, with one factor or two: opens the session and issues its first tokens. */
export async function openLoginSession(deps: ServiceDeps, user: UserRow, login: CompletedLogin, client: ClientInfo): Promise<LoginTokens> {
  const { amr, weakness, secondFactor } = login;
  const session = await startSession(deps, user, client, amr);
  if (session === undefined) {
    // The password was changed, or every session ended, while this login checked the old credentials.
    await recordSecurityEvent(deps, { type: 'login_failed', userId: user.id, client, details: { login: user.username, reason: 'credentials_changed' } });
    throw new DomainError('INVALID_CREDENTIALS');
  }
  await recordLogin(deps.db, user.id, deps.clock.now());
  await recordSecurityEvent(deps, {
    type: 'login_succeeded',
    userId: user.id,
    client,
    details: { sessionId: session.id, ...(secondFactor && { secondFactor }), ...(weakness && { weakPassword: weakness.type }) },
  });
  const tokens = await issueTokens(deps, user, session);
  return weakness ? { ...tokens, weak_password: weakness } : tokens;
}
