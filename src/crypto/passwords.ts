import { randomBytes } from 'node:crypto';
import { createArgon2idScheme, type Argon2Params } from './argon2.js';
import { createBcryptScheme } from './bcrypt.js';
import { createHashQueue } from './hash-queue.js';
import type { PasswordScheme } from './password-scheme.js';

export type HashAlgorithm = 'bcrypt' | 'argon2id';

/** m=19 MiB, t=2 (p=1): OWASP's first argon2id configuration. @see OWASP Password Storage Cheat Sheet */
export const OWASP_ARGON2ID: Argon2Params = { memoryKiB: 19456, timeCost: 2 };

/** HASH_QUEUE_LIMIT's default; config.ts explains the number. */
export const DEFAULT_QUEUE_LIMIT = 32;

/** How new hashes are made, and how much hashing may queue up. */
export interface HashingPolicy {
  algorithm: HashAlgorithm;
  bcryptRounds: number;
  argon2: Argon2Params;
  /** Hash operations running or waiting before more are refused with SERVICE_BUSY (503). */
  queueLimit: number;
}

/** The outcome of checking a password. `rehash`: it matched, and the stored hash should be replaced. */
export interface Verification {
  readonly match: boolean;
  readonly rehash: boolean;
}

export interface PasswordHasher {
  /** Normalises (NFKC), then hashes with the current policy. */
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** `verify`, and whether the stored hash should be replaced by a fresh one (see `needsRehash`). */
  check(password: string, hash: string): Promise<Verification>;
  /** Whether `hash` was made with another algorithm or other parameters than the current policy's. */
  needsRehash(hash: string): boolean;
  /**
   * Spends the time of a failed `check` and matches nothing. For a login that names no account, so the
   * response time does not reveal whether an account exists.
   */
  checkNobody(password: string): Promise<Verification>;
}

/**
 * Unicode compatibility normalisation, so the same password typed on different keyboards or input methods
 * (composed "é" or "e" + combining accent, full-width digits, ligatures) is the same password.
 * @see NIST SP 800-63B §5.1.1.2
 */
export function normalisePassword(password: string): string {
  return password.normalize('NFKC');
}

/**
 * Both schemes verify, whatever the policy, so stored hashes of either kind and any cost keep working; the
 * policy's scheme makes new hashes. Every hash and verification goes through one bounded queue.
 *
 * A failed check takes the time of one check with every scheme the accounts may hold, not just the one that
 * failed: under argon2id, accounts not yet moved off the seed's bcrypt take bcrypt's ~200 ms against
 * argon2's ~30 ms, and were an unknown login to take only argon2's time, the difference would tell which
 * logins are accounts. Under bcrypt, argon2id hashes are not expected (they exist only after a switch back)
 * and failures cost one bcrypt check.
 */
export function createPasswordHasher(policy: HashingPolicy): PasswordHasher {
  const bcrypt = createBcryptScheme(policy.bcryptRounds);
  const argon2id = createArgon2idScheme(policy.argon2);
  const current = policy.algorithm === 'argon2id' ? argon2id : bcrypt;
  const inUse: PasswordScheme[] = policy.algorithm === 'argon2id' ? [bcrypt, argon2id] : [bcrypt];
  const queue = createHashQueue({ limit: policy.queueLimit });
  const schemeOf = (hash: string): PasswordScheme | undefined => [bcrypt, argon2id].find((s) => s.recognises(hash));

  // One dummy hash per scheme, made at the scheme's current cost so checking it costs what a real check does.
  const dummies = new Map<PasswordScheme, Promise<string>>();
  const dummyHash = (scheme: PasswordScheme) => {
    let dummy = dummies.get(scheme);
    if (dummy === undefined) {
      dummy = queue.run(() => scheme.hash(randomBytes(16).toString('hex')));
      dummies.set(scheme, dummy);
      // A refused (busy) attempt is tried again next time rather than remembered.
      dummy.catch(() => dummies.delete(scheme));
    }
    return dummy;
  };
  // Made now, in the background: were they made at the first unknown login, that login would take a hash
  // longer than any other and tell that the account does not exist.
  for (const scheme of inUse) void dummyHash(scheme).catch(() => undefined);

  /** As many checks as `check` makes for a wrong password with `scheme`: a second one for input not in normal form. */
  const spendCheck = async (scheme: PasswordScheme, password: string) => {
    const hash = await dummyHash(scheme);
    const normalised = normalisePassword(password);
    await queue.run(() => scheme.verify(normalised, hash));
    if (normalised !== password) await queue.run(() => scheme.verify(password, hash));
  };

  /** Pads a failure with `failed` (or with nothing) to one check with every scheme in use. */
  const fail = async (password: string, failed?: PasswordScheme): Promise<Verification> => {
    for (const scheme of inUse) if (scheme !== failed) await spendCheck(scheme, password);
    return { match: false, rehash: false };
  };

  const needsRehash = (hash: string) => schemeOf(hash) !== current || !current.isCurrent(hash);

  const check = async (password: string, hash: string): Promise<Verification> => {
    const scheme = schemeOf(hash);
    // Not a hash we know (a disabled or corrupt row): matches nothing, in the usual time.
    if (scheme === undefined) return fail(password);
    const normalised = normalisePassword(password);
    if (await queue.run(() => scheme.verify(normalised, hash))) {
      return { match: true, rehash: needsRehash(hash) };
    }
    // Hashes made before normalisation (the Python service's) hold the password as it was typed. Such a
    // match is re-hashed in normal form, so the user is moved over at the first login.
    if (normalised !== password && (await queue.run(() => scheme.verify(password, hash)))) {
      return { match: true, rehash: true };
    }
    return fail(password, scheme);
  };

  return {
    hash(password) {
      const normalised = normalisePassword(password);
      return queue.run(() => current.hash(normalised));
    },
    verify: async (password, hash) => (await check(password, hash)).match,
    check,
    needsRehash,
    checkNobody: (password) => fail(password),
  };
}

/** bcrypt at `rounds` with OWASP's argon2id for verifying, and the default queue limit. */
export function createBcryptHasher(rounds: number): PasswordHasher {
  return createPasswordHasher({ algorithm: 'bcrypt', bcryptRounds: rounds, argon2: OWASP_ARGON2ID, queueLimit: DEFAULT_QUEUE_LIMIT });
}
