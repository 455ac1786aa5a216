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
   * Spends the time of one real verification and returns false. Used when the user does not exist, so
   * the response time does not reveal whether an account exists.
   */
  verifyDummy(password: string): Promise<false>;
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
 */
export function createPasswordHasher(policy: HashingPolicy): PasswordHasher {
  const bcrypt = createBcryptScheme(policy.bcryptRounds);
  const argon2id = createArgon2idScheme(policy.argon2);
  const current = policy.algorithm === 'argon2id' ? argon2id : bcrypt;
  const queue = createHashQueue({ limit: policy.queueLimit });
  const schemeOf = (hash: string): PasswordScheme | undefined => [bcrypt, argon2id].find((s) => s.recognises(hash));

  let dummy: Promise<string> | undefined;
  const dummyHash = () => {
    if (dummy === undefined) {
      // Made with the current scheme and cost, so checking it costs what checking a real hash does.
      dummy = queue.run(() => current.hash(randomBytes(16).toString('hex')));
      // A refused (busy) attempt is tried again next time rather than remembered.
      dummy.catch(() => (dummy = undefined));
    }
    return dummy;
  };
  // Made now, in the background: were it made at the first unknown login, that login would take a hash
  // longer than any other and tell that the account does not exist.
  void dummyHash();

  const verifyDummy = async (password: string): Promise<false> => {
    const hash = await dummyHash();
    const normalised = normalisePassword(password);
    // As many checks as `verify` makes for a wrong password: a second one for input not in normal form.
    await queue.run(() => current.verify(normalised, hash));
    if (normalised !== password) await queue.run(() => current.verify(password, hash));
    return false;
  };

  const needsRehash = (hash: string) => schemeOf(hash) !== current || !current.isCurrent(hash);

  const check = async (password: string, hash: string): Promise<Verification> => {
    const scheme = schemeOf(hash);
    if (scheme === undefined) {
      // Not a hash we know (a disabled or corrupt row): matches nothing, in the usual time.
      await verifyDummy(password);
      return { match: false, rehash: false };
    }
    const normalised = normalisePassword(password);
    if (await queue.run(() => scheme.verify(normalised, hash))) {
      return { match: true, rehash: needsRehash(hash) };
    }
    // Hashes made before normalisation (the Python service's) hold the password as it was typed. Such a
    // match is re-hashed in normal form, so the user is moved over at the first login.
    if (normalised !== password && (await queue.run(() => scheme.verify(password, hash)))) {
      return { match: true, rehash: true };
    }
    return { match: false, rehash: false };
  };

  return {
    hash(password) {
      const normalised = normalisePassword(password);
      return queue.run(() => current.hash(normalised));
    },
    verify: async (password, hash) => (await check(password, hash)).match,
    check,
    needsRehash,
    verifyDummy,
  };
}

/** bcrypt at `rounds` with OWASP's argon2id for verifying, and the default queue limit. */
export function createBcryptHasher(rounds: number): PasswordHasher {
  return createPasswordHasher({ algorithm: 'bcrypt', bcryptRounds: rounds, argon2: OWASP_ARGON2ID, queueLimit: DEFAULT_QUEUE_LIMIT });
}
