// What a proof of the mailbox ends (issue 21): a password reset, and the first verification of an address.
import type { Database } from '../../db/client.js';
import { ALL_TOKEN_PURPOSES, deleteAccountTokens } from '../../repositories/account/account-tokens.js';
import { deleteIdentitiesOf } from '../../repositories/federation/linked-identities.js';
import { deletePasskeysOf } from '../../repositories/second-factor/passkeys.js';
import type { ServiceDeps } from '../deps.js';

/** The ways in a proof of the mailbox removed, named for the owner's notice and the security event. */
export interface RemovedWaysIn {
  passkeys: string[];
  providers: string[];
}

/**
 * The mailbox is the proof of ownership: whoever added a way in before it was proved may not be its
 * owner (an intruder with the password, or someone who registered the address first and left it
 * unverified: "pre-account hijacking"). So, in the caller's transaction, every other mailed token goes
 * (pending e-mail changes, verification and reset links), and so do every passkey and linked provider
 * identity. The owner's notice lists what was removed, so an owner who loses their own knows to add it again.
 * (The repositories are used directly: the passkey and federation services import sign-in, which imports
 * this folder, and a service import here would close a circle.)
 * @see issue 21, finding 1; Sudhodanan & Paverd, "Pre-hijacked accounts" (USENIX Security 2022); ASVS 5.0 6.4.3
 */
export async function removeWaysInAddedBefore(tx: Database, userId: number): Promise<RemovedWaysIn> {
  await deleteAccountTokens(tx, userId, ALL_TOKEN_PURPOSES);
  const passkeys = await deletePasskeysOf(tx, userId);
  const providers = await deleteIdentitiesOf(tx, userId);
  return { passkeys, providers };
}

/** The sentences a notice adds about removed ways in (none when nothing was removed). */
export function removedInWords(deps: Pick<ServiceDeps, 'mail'>, removed: RemovedWaysIn): string[] {
  const names = [...removed.passkeys.map((name) => `the passkey “${name}”`), ...removed.providers.map((provider) => `sign-in with ${provider}`)];
  if (names.length === 0) return [];
  return [
    `To keep out anyone who added a way in before you proved this address is yours, these were removed: ${names.join(', ')}.`,
    `If they were yours, add them again from your ${deps.mail.appName} account page.`,
  ];
}

export const anyRemoved = (removed: RemovedWaysIn) => removed.passkeys.length + removed.providers.length > 0;
