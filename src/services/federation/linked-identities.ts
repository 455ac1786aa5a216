// Federation: signing in with ANOTHER OpenID provider (we are the client). provider-registry.ts discovers the
// configured providers, authorization-flow.ts runs the code flow with openid-client, and this file links
// identities to accounts and signs them in. Not to be confused with being a provider ourselves.
import { randomBytes } from 'node:crypto';
import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import type { ProviderIdentity } from './authorization-flow.js';
import { countIdentitiesOf, deleteIdentity, findIdentitiesOf, findIdentity, insertIdentity, lockUser, touchIdentity } from '../../repositories/federation/linked-identities.js';
import { findPasskeysOf } from '../../repositories/second-factor/passkeys.js';
import { findUserByEmail, findUserById, findUserByLogin, insertUser, tokensValidFrom, updateUserProfile } from '../../repositories/users.js';
import { queueNoticeMail } from '../account/account-mail.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { assertMaySignIn, openLoginSession, type LoginTokens } from '../sign-in/login-session.js';
import { requireSecondFactor } from '../second-factor/second-step.js';
import { assertSecondFactorStepUp, type StepUp } from '../second-factor/step-up.js';
import { confirmCurrentPassword } from '../sign-in/reauthentication.js';

/**
 * The stored "password" of an account made by a provider sign-in: no scheme recognises it, so every
 * password check against it fails (taking a dummy hash's time, as for an unknown user). The reset flow
 * replaces it with a real hash.
 */
const UNUSABLE_PREFIX = '!no-password:';
export const unusablePasswordHash = () => `${UNUSABLE_PREFIX}${randomBytes(16).toString('hex')}`;
export const hasUsablePassword = (user: Pick<UserRow, 'hashPassword'>) => !user.hashPassword.startsWith(UNUSABLE_PREFIX);

/** `amr` of a session opened through a provider (RFC 8176 has no value for it): `fed` and the provider's name. */
export const federatedAmr = (provider: string) => ['fed', `idp:${provider}`];

/**
 * Signs in with a provider's verified identity, in this order:
 * 1. an identity already linked signs in to its account;
 * 2. an unknown identity whose e-mail address belongs to an account is linked to it only when the
 *    provider says the address is verified AND the account's address is verified — anything less and
 *    whoever controls the provider's record could take over an account made by someone else (or made
 *    in advance by an attacker: "pre-account takeover"); the person signs in and links from the account page;
 * 3. otherwise a new account is made, with no usable password — only on an address the provider verified.
 * Then, as for a password sign-in: REQUIRE_VERIFIED_EMAIL, the second factor, the session.
 * @see issue 17; Sudhodanan & Paverd, "Pre-hijacked accounts" (USENIX Security 2022)
 */
export async function loginWithIdentity(deps: ServiceDeps, identity: ProviderIdentity, client: ClientInfo): Promise<LoginTokens> {
  const user = await accountOf(deps, identity, client);
  await assertMaySignIn(deps, user, client);
  await requireSecondFactor(deps, user, undefined, client, federatedAmr(identity.provider));
  return openLoginSession(deps, user, { amr: federatedAmr(identity.provider) }, client);
}

async function accountOf(deps: ServiceDeps, identity: ProviderIdentity, client: ClientInfo): Promise<UserRow> {
  const stated = { email: identity.email, emailVerified: identity.emailVerified };
  const linked = await findIdentity(deps.db, identity.provider, identity.subject);
  if (linked) {
    await touchIdentity(deps.db, linked.id, stated, deps.clock.now());
    const user = await findUserById(deps.db, linked.userId);
    if (user === undefined) throw new DomainError('OIDC_SIGN_IN_FAILED');
    return user;
  }
  if (identity.email === null) return refuse(deps, identity, client, 'no_email');
  const existing = await findUserByEmail(deps.db, identity.email);
  if (existing) {
    // Never link on an address either side has not verified.
    if (!identity.emailVerified || !existing.emailVerified) {
      await recordSecurityEvent(deps, { type: 'federated_login_failed', userId: existing.id, client, details: { provider: identity.provider, reason: 'link_required' } });
      throw new DomainError('OIDC_LINK_REQUIRED');
    }
    await link(deps, existing, identity, client, true);
    return existing;
  }
  // A new account takes the address as its own: on an address the provider has not verified, whoever
  // owns it would later reset the password of an account whose identity someone else still holds.
  if (!identity.emailVerified) return refuse(deps, identity, client, 'email_not_verified');
  return createAccount(deps, identity, client);
}

/** A provider sign-in refused for want of a verified address: a security event, then the one error (issue 21, finding 7). */
async function refuse(deps: ServiceDeps, identity: ProviderIdentity, client: ClientInfo, reason: 'no_email' | 'email_not_verified'): Promise<never> {
  await recordSecurityEvent(deps, { type: 'federated_login_failed', userId: null, client, details: { provider: identity.provider, reason } });
  throw new DomainError('OIDC_EMAIL_NOT_VERIFIED');
}

/**
 * A username from the address's local part (or the provider's name), in the API's username alphabet,
 * short enough (22) that a number or a random suffix added to make it unique keeps it within 32.
 */
function usernameBase(identity: ProviderIdentity): string {
  const local = (identity.email ?? '').split('@')[0]!.normalize('NFKC').replace(/[^A-Za-z0-9._-]/g, '').slice(0, 22);
  return local.length >= 3 ? local : `${identity.provider.slice(0, 17)}-user`;
}

async function freeUsername(deps: ServiceDeps, base: string): Promise<string> {
  for (let n = 1; n <= 20; n++) {
    const candidate = n === 1 ? base : `${base}${n}`;
    if ((await findUserByLogin(deps.db, candidate)) === undefined) return candidate;
  }
  return `${base}-${randomBytes(3).toString('hex')}`;
}

/** The account and its identity commit together; a concurrent sign-up taking the name is retried with another. */
async function createAccount(deps: ServiceDeps, identity: ProviderIdentity, client: ClientInfo): Promise<UserRow> {
  const base = usernameBase(identity);
  for (let attempt = 0; ; attempt++) {
    const username = await freeUsername(deps, attempt === 0 ? base : `${base}-${randomBytes(3).toString('hex')}`);
    try {
      const user = await deps.db.transaction(async (tx) => {
        const user = await insertUser(tx, { username, email: identity.email!, hashPassword: unusablePasswordHash(), tokensValidAfter: tokensValidFrom(deps.clock.now()) });
        // The provider vouched for the address: the account starts verified, exactly when it did.
        const verified = identity.emailVerified ? await updateUserProfile(tx, user.id, { emailVerified: true }, deps.clock.now()) : user;
        await insertIdentity(tx, user.id, identity, deps.clock.now());
        return verified!;
      });
      await recordSecurityEvent(deps, { type: 'identity_linked', userId: user.id, client, details: { provider: identity.provider, newAccount: true } });
      return user;
    } catch (error) {
      // The same identity signed in twice at once: the other request made the account.
      if (error instanceof DomainError && error.code === 'OIDC_IDENTITY_IN_USE') {
        const linked = await findIdentity(deps.db, identity.provider, identity.subject);
        const user = linked && (await findUserById(deps.db, linked.userId));
        if (user) return user;
      }
      // The address was registered meanwhile: that account's owner links it, as in rule 2.
      if (error instanceof DomainError && error.code === 'USER_ALREADY_EXISTS') {
        if (await findUserByEmail(deps.db, identity.email!)) throw new DomainError('OIDC_LINK_REQUIRED');
        if (attempt < 3) continue;
      }
      throw error;
    }
  }
}

async function link(deps: ServiceDeps, user: UserRow, identity: ProviderIdentity, client: ClientInfo, automatic: boolean): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await insertIdentity(tx, user.id, identity, deps.clock.now());
    // ASVS 5.0 6.3.7: a new way in to the account is news to its owner.
    await queueNoticeMail(deps, tx, user, 'identity_linked');
  });
  await recordSecurityEvent(deps, { type: 'identity_linked', userId: user.id, client, details: { provider: identity.provider, automatic } });
}

/** How recent a sign-in counts as re-authentication for an account with no password and no second factor. */
export const FRESH_SIGN_IN_SECONDS = 5 * 60;

/** What a signed-in browser offers before a link flow starts. */
export interface LinkReauthentication {
  currentPassword: string;
  stepUp: StepUp;
  /** When the browser's session signed in. */
  signedInAt: Date;
}

/**
 * Before a link flow starts: a linked identity is a permanent way in, so a briefly stolen page session must
 * not be enough (as for a passkey or TOTP). The address must be confirmed (an unproved one may be someone
 * else's: pre-account hijacking), and the person proves it is them: the current password, or a code of
 * the second factor; an account with neither (made by a provider sign-in, no TOTP) needs a sign-in within
 * the last FRESH_SIGN_IN_SECONDS, OpenID Connect's `max_age` idea.
 * @see issue 21, findings 1(c) and 4; ASVS 5.0 7.5.1
 */
export async function reauthenticateForLink(deps: ServiceDeps, user: UserRow, reauth: LinkReauthentication, client: ClientInfo): Promise<void> {
  if (!user.emailVerified) throw new DomainError('EMAIL_VERIFICATION_REQUIRED');
  if (reauth.currentPassword !== '' && hasUsablePassword(user)) return confirmCurrentPassword(deps, user, reauth.currentPassword, client);
  if (reauth.stepUp.proof !== undefined && user.mfaEnabled) return assertSecondFactorStepUp(deps, user, { amr: [], proof: reauth.stepUp.proof }, client, 'link');
  const fresh = deps.clock.now().getTime() - reauth.signedInAt.getTime() <= FRESH_SIGN_IN_SECONDS * 1000;
  if (!hasUsablePassword(user) && !user.mfaEnabled && fresh) return;
  throw new DomainError('REAUTHENTICATION_REQUIRED');
}

/**
 * Links a provider's identity to the signed-in account (the flow started from the account page, the
 * browser still signed in as this account when it came back). The person proved both sides, so no
 * e-mail rule applies; an identity of another account is refused, not moved.
 */
export async function linkIdentityTo(deps: ServiceDeps, user: UserRow, identity: ProviderIdentity, client: ClientInfo): Promise<void> {
  if (!user.emailVerified) throw new DomainError('EMAIL_VERIFICATION_REQUIRED');
  const linked = await findIdentity(deps.db, identity.provider, identity.subject);
  if (linked) {
    if (linked.userId !== user.id) throw new DomainError('OIDC_IDENTITY_IN_USE');
    await touchIdentity(deps.db, linked.id, { email: identity.email, emailVerified: identity.emailVerified }, deps.clock.now());
    return;
  }
  await link(deps, user, identity, client, false);
}

export interface IdentityView {
  id: number;
  provider: string;
  email: string | null;
  email_verified: boolean;
  created_at: string;
  last_used_at: string | null;
}

export async function listIdentities(deps: ServiceDeps, userId: number): Promise<IdentityView[]> {
  return (await findIdentitiesOf(deps.db, userId)).map((i) => ({
    id: i.id,
    provider: i.provider,
    email: i.email,
    email_verified: i.emailVerified,
    created_at: i.createdAt.toISOString(),
    last_used_at: i.lastUsedAt?.toISOString() ?? null,
  }));
}

/**
 * Unlinks one identity, unless it is the last way in: no usable password, no passkey and no other
 * identity would leave an account nobody can sign in to (the reset flow could still set a password,
 * but only while the mailbox is reachable). Checked and deleted in one transaction, with the user's row
 * locked, so two unlinks at once cannot each leave the other as the last.
 */
export async function unlinkIdentity(deps: ServiceDeps, user: UserRow, id: number, client: ClientInfo): Promise<void> {
  const removed = await deps.db.transaction(async (tx) => {
    const current = await lockUser(tx, user.id);
    if (current === undefined) throw new DomainError('OIDC_IDENTITY_NOT_FOUND');
    const others = (await countIdentitiesOf(tx, user.id)) - 1;
    const passkeys = (await findPasskeysOf(tx, user.id)).length;
    if (!hasUsablePassword(current) && others < 1 && passkeys === 0) {
      if ((await findIdentitiesOf(tx, user.id)).some((i) => i.id === id)) throw new DomainError('LAST_SIGN_IN_METHOD');
    }
    const removed = await deleteIdentity(tx, user.id, id);
    if (removed) await queueNoticeMail(deps, tx, current, 'identity_unlinked');
    return removed;
  });
  if (!removed) throw new DomainError('OIDC_IDENTITY_NOT_FOUND');
  await recordSecurityEvent(deps, { type: 'identity_unlinked', userId: user.id, client, details: { identityId: id } });
}

/** A provider sign-in refused before any account was involved (state, code or ID token): audited, logged at warn. */
export async function recordFederatedFailure(deps: ServiceDeps, provider: string, reason: string, client: ClientInfo): Promise<void> {
  await recordSecurityEvent(deps, { type: 'federated_login_failed', userId: null, client, details: { provider, reason: reason.slice(0, 200) } });
}
