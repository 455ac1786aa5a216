// PASSWORDLESS_SIGNUP: the first right code of an address no account has makes the account.
import { randomBytes } from 'node:crypto';
import type { Database } from '../../db/client.js';
import type { UserRow } from '../../db/schema.js';
import { findUserByEmail, findUserByLogin, insertUser, markEmailVerified, tokensValidFrom } from '../../repositories/users.js';
import { endWhatCameBeforeVerification } from '../account/email-verification.js';
import type { ServiceDeps } from '../deps.js';
import { unusablePasswordHash } from '../federation/linked-identities.js';

/**
 * A username from the address's local part, in the API's username alphabet, short enough (22) that a
 * number or a random suffix keeps it within 32; the person may change it on the account page.
 */
function usernameBase(email: string): string {
  const local = email.split('@')[0]!.normalize('NFKC').replace(/[^A-Za-z0-9._-]/g, '').slice(0, 22);
  return local.length >= 3 ? local : `user-${local}`.slice(0, 22).padEnd(8, '0');
}

async function freeUsername(db: Database, base: string): Promise<string> {
  for (let n = 1; n <= 20; n++) {
    const candidate = n === 1 ? base : `${base}${n}`;
    if ((await findUserByLogin(db, candidate)) === undefined) return candidate;
  }
  return `${base}-${randomBytes(3).toString('hex')}`;
}

/**
 * The account of `email` for a spent signup code, in the caller's transaction: the one made meanwhile
 * (registration, a provider), or a new one with no usable password and the address verified — the code
 * just proved it. A concurrent creation of the same address fails the transaction (unique index); the
 * code is then not spent, and the next try finds the account.
 */
export async function accountForNewAddress(deps: ServiceDeps, tx: Database, email: string): Promise<{ user: UserRow; created: boolean } | undefined> {
  const now = deps.clock.now();
  const existing = await findUserByEmail(tx, email);
  if (existing) {
    const verified = await markEmailVerified(tx, existing.id, email, now);
    if (verified === undefined) return undefined;
    // An account made meanwhile whose address nobody had proved: the code is its first proof (issue 21).
    if (!existing.emailVerified) await endWhatCameBeforeVerification(deps, tx, verified);
    const current = await findUserByEmail(tx, email);
    return current && { user: current, created: false };
  }
  const username = await freeUsername(tx, usernameBase(email));
  const user = await insertUser(tx, { username, email, hashPassword: unusablePasswordHash(), tokensValidAfter: tokensValidFrom(now) });
  const verified = await markEmailVerified(tx, user.id, email, now);
  return verified && { user: verified, created: true };
}
