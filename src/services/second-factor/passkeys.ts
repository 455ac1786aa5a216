import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { hashOpaqueToken } from '../../crypto/opaque-tokens.js';
import type { PasskeyRow, UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { deletePasskey, findPasskeyByCredentialId, findPasskeysOf, insertPasskey, markPasskeyUsed, renamePasskey } from '../../repositories/second-factor/passkeys.js';
import { findUserById } from '../../repositories/users.js';
import { insertWebauthnChallenge, spendWebauthnChallenge, type ChallengePurpose } from '../../repositories/second-factor/webauthn-challenges.js';
import { queueNoticeMail } from '../account/account-mail.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { assertMaySignIn, openLoginSession, type LoginTokens } from '../sign-in/login-session.js';
import { confirmCurrentPassword } from '../sign-in/reauthentication.js';
import { hasUsablePassword } from '../federation/linked-identities.js';
import { assertSecondFactorStepUp, type StepUp } from './step-up.js';

/** How long a ceremony may take, from the options to the authenticator's answer. */
export const PASSKEY_CHALLENGE_TTL_SECONDS = 5 * 60;

/**
 * What a passkey sign-in proves (RFC 8176): possession of a hardware-bound key (`hwk`), unlocked by the
 * user's PIN or biometric — user verification is required — so it counts as two factors (`mfa`). Access
 * tokens of such sessions carry it, as they carry `["pwd","otp"]` (services/sessions/token-pairs.ts).
 */
export const PASSKEY_AMR = ['hwk', 'mfa'];

const MAX_NAME = 64;

/**
 * The relying party is PUBLIC_URL: its host is the RP id and its origin the only origin accepted, so a
 * passkey made here works nowhere else and an answer relayed from another site is refused.
 */
function relyingParty(deps: Pick<ServiceDeps, 'mail'>) {
  const url = new URL(deps.mail.publicUrl);
  return { rpID: url.hostname, origin: url.origin, rpName: deps.mail.appName };
}

/** Only the hash is stored: a copy of the table cannot be used to answer a pending ceremony. */
async function storeChallenge(deps: ServiceDeps, challenge: string, purpose: ChallengePurpose, userId: number | null) {
  const now = deps.clock.now();
  await insertWebauthnChallenge(deps.db, {
    challengeHash: hashOpaqueToken(challenge),
    purpose,
    userId,
    createdAt: now,
    expiresAt: new Date(now.getTime() + PASSKEY_CHALLENGE_TTL_SECONDS * 1000),
  });
}

/**
 * Spends the challenge the authenticator signed (read from its clientDataJSON) before anything else is
 * checked: one answer per challenge, right or wrong, and of concurrent answers exactly one gets it.
 */
async function spendChallenge(deps: ServiceDeps, clientDataJSON: string, purpose: ChallengePurpose) {
  let challenge: unknown;
  try {
    challenge = (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
  } catch {
    throw new DomainError('PASSKEY_REJECTED');
  }
  if (typeof challenge !== 'string' || challenge.length === 0 || challenge.length > 512) throw new DomainError('PASSKEY_REJECTED');
  const spent = await spendWebauthnChallenge(deps.db, hashOpaqueToken(challenge), purpose, deps.clock.now());
  if (spent === undefined) throw new DomainError('PASSKEY_REJECTED');
  return { challenge, userId: spent.userId };
}

/** The library throws on malformed input: every such failure is the one client error. */
async function verified<T>(check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof DomainError) throw error;
    throw new DomainError('PASSKEY_REJECTED', { cause: error });
  }
}

/**
 * Options for `navigator.credentials.create()`: a discoverable credential with user verification. The
 * current password first, as for the TOTP factor: a new way in must not be added with a stolen session
 * alone (behind the account's password lockout); with a second factor on, the factor too (a passkey signs
 * in as two factors). Only on a confirmed address: on an unproved one the "owner" may be someone who
 * registered it first.
 * @see OWASP ASVS 5.0 7.5.1; issue 21, findings 1 and 2
 */
export async function passkeyRegistrationOptions(
  deps: ServiceDeps,
  user: UserRow,
  currentPassword: string,
  client: ClientInfo,
  stepUp: StepUp,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  if (!user.emailVerified) throw new DomainError('EMAIL_VERIFICATION_REQUIRED');
  await confirmCurrentPassword(deps, user, currentPassword, client);
  await assertSecondFactorStepUp(deps, user, stepUp, client, 'passkey');
  const { rpID, rpName } = relyingParty(deps);
  const existing = await findPasskeysOf(deps.db, user.id);
  const options = await generateRegistrationOptions({
    rpName,
    rpID,
    userName: user.username,
    // The user handle is the account id: stable across renames, and no personal data.
    userID: new TextEncoder().encode(`user:${user.id}`),
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  });
  await storeChallenge(deps, options.challenge, 'registration', user.id);
  return options;
}

const cleanName = (name: string | undefined, fallback: string) => {
  const trimmed = (name ?? '').replace(/\p{Cc}/gu, '').trim().slice(0, MAX_NAME);
  return trimmed === '' ? fallback : trimmed;
};

/** Adds the passkey the browser just made, if it answers this user's live registration challenge. */
export async function registerPasskey(
  deps: ServiceDeps,
  user: UserRow,
  input: { response: RegistrationResponseJSON; name?: string },
  client: ClientInfo,
): Promise<PasskeyRow> {
  const { rpID, origin } = relyingParty(deps);
  const { challenge, userId } = await spendChallenge(deps, input.response.response.clientDataJSON, 'registration');
  if (userId !== user.id) throw new DomainError('PASSKEY_REJECTED');
  if (!user.emailVerified) throw new DomainError('EMAIL_VERIFICATION_REQUIRED');
  const result = await verified(() =>
    verifyRegistrationResponse({ response: input.response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: true }),
  );
  if (!result.verified) throw new DomainError('PASSKEY_REJECTED');
  const { credential } = result.registrationInfo;
  const count = (await findPasskeysOf(deps.db, user.id)).length;
  const passkey = await deps.db.transaction(async (tx) => {
    const row = await insertPasskey(tx, {
      userId: user.id,
      credentialId: credential.id,
      publicKey: Buffer.from(credential.publicKey).toString('base64url'),
      signCount: credential.counter,
      transports: credential.transports ?? [],
      name: cleanName(input.name, `Passkey ${count + 1}`),
      createdAt: deps.clock.now(),
    });
    // ASVS 5.0 6.3.7: a new way in to the account is news to its owner.
    await queueNoticeMail(deps, tx, user, 'passkey_added');
    return row;
  });
  await recordSecurityEvent(deps, { type: 'passkey_added', userId: user.id, client, details: { passkeyId: passkey.id } });
  return passkey;
}

/** Options for `navigator.credentials.get()`: no user named (discoverable credentials), user verification required. */
export async function passkeyLoginOptions(deps: ServiceDeps): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { rpID } = relyingParty(deps);
  const options = await generateAuthenticationOptions({ rpID, userVerification: 'required', allowCredentials: [] });
  await storeChallenge(deps, options.challenge, 'authentication', null);
  return options;
}

/**
 * A sign-in with a passkey: the credential names the account, its signature over the live challenge
 * proves possession, and user verification the person. Opens a session like any login, with
 * `amr: ["hwk","mfa"]`. Unknown credential, wrong signature and spent challenge are one answer.
 * @see W3C WebAuthn Level 3 §7.2 (verifying an authentication assertion)
 */
export async function loginWithPasskey(deps: ServiceDeps, response: AuthenticationResponseJSON, client: ClientInfo): Promise<LoginTokens> {
  const { rpID, origin } = relyingParty(deps);
  const { challenge } = await spendChallenge(deps, response.response.clientDataJSON, 'authentication');
  const passkey = await findPasskeyByCredentialId(deps.db, response.id);
  if (passkey === undefined) throw new DomainError('PASSKEY_REJECTED');
  const result = await verified(() =>
    verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      requireUserVerification: true,
      credential: { id: passkey.credentialId, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: passkey.signCount, transports: passkey.transports },
    }),
  );
  if (!result.verified) {
    await recordSecurityEvent(deps, { type: 'passkey_failed', userId: passkey.userId, client });
    throw new DomainError('PASSKEY_REJECTED');
  }
  const user = await findUserById(deps.db, passkey.userId);
  if (user === undefined) throw new DomainError('PASSKEY_REJECTED');
  await assertMaySignIn(deps, user, client);
  await markPasskeyUsed(deps.db, passkey.id, result.authenticationInfo.newCounter, deps.clock.now());
  return openLoginSession(deps, user, { amr: PASSKEY_AMR }, client);
}

export interface PasskeyView {
  id: number;
  name: string;
  created_at: string;
  last_used_at: string | null;
}

export async function listPasskeys(deps: ServiceDeps, userId: number): Promise<PasskeyView[]> {
  return (await findPasskeysOf(deps.db, userId)).map((p) => ({
    id: p.id,
    name: p.name,
    created_at: p.createdAt.toISOString(),
    last_used_at: p.lastUsedAt?.toISOString() ?? null,
  }));
}

export async function renameOwnPasskey(deps: ServiceDeps, user: UserRow, id: number, name: string): Promise<void> {
  if (!(await renamePasskey(deps.db, user.id, id, cleanName(name, 'Passkey')))) throw new DomainError('PASSKEY_NOT_FOUND');
}

/**
 * Removes one of the user's passkeys, after the current password (behind its lockout) — or, for an
 * account without a password, the second factor — as for any change to how the account signs in.
 * @see issue 21, finding 7; ASVS 5.0 7.5.1
 */
export async function removePasskey(deps: ServiceDeps, user: UserRow, id: number, reauth: { currentPassword: string; stepUp: StepUp }, client: ClientInfo): Promise<void> {
  // Another account's passkey (or none) is "not found" before any password is asked for or counted.
  if (!(await findPasskeysOf(deps.db, user.id)).some((p) => p.id === id)) throw new DomainError('PASSKEY_NOT_FOUND');
  if (hasUsablePassword(user)) await confirmCurrentPassword(deps, user, reauth.currentPassword, client);
  else if (user.mfaEnabled) await assertSecondFactorStepUp(deps, user, reauth.stepUp, client, 'passkey_removal');
  else throw new DomainError('REAUTHENTICATION_REQUIRED');
  const removed = await deps.db.transaction(async (tx) => {
    const removed = await deletePasskey(tx, user.id, id);
    if (removed) await queueNoticeMail(deps, tx, user, 'passkey_removed');
    return removed;
  });
  if (!removed) throw new DomainError('PASSKEY_NOT_FOUND');
  await recordSecurityEvent(deps, { type: 'passkey_removed', userId: user.id, client, details: { passkeyId: id } });
}
