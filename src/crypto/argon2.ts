import type { PasswordScheme } from './password-scheme.js';

export interface Argon2Params {
  /** `m`, in KiB. OWASP: 19456 (19 MiB) with t=2. */
  memoryKiB: number;
  /** `t`, passes over memory. */
  timeCost: number;
}

/** One lane: OWASP's p=1; more lanes would not run in parallel inside one libuv task anyway. */
const PARALLELISM = 1;

const ARGON2_PARAMS = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/;

/**
 * Loaded on first use: a service with only bcrypt hashes never loads the native module. Called through the
 * CommonJS exports object, as `bcrypt` is, so a test can count the calls.
 */
let binding: Promise<typeof import('@node-rs/argon2')> | undefined;
const argon2 = () => (binding ??= import('@node-rs/argon2').then((module) => module.default));

/**
 * argon2id via `@node-rs/argon2` (prebuilt, runs on libuv's pool). Its defaults are argon2id, version 19
 * (0x13), 16-byte salt, 32-byte output; the PHC string records them, so old parameters keep verifying.
 * @see OWASP Password Storage Cheat Sheet, "Argon2id"
 */
export function createArgon2idScheme(params: Argon2Params): PasswordScheme {
  return {
    recognises: (hash) => hash.startsWith('$argon2'),
    hash: async (password) =>
      (await argon2()).hash(password, { memoryCost: params.memoryKiB, timeCost: params.timeCost, parallelism: PARALLELISM }),
    async verify(password, hash) {
      const { verify } = await argon2();
      try {
        return await verify(hash, password);
      } catch {
        // A malformed stored hash matches nothing.
        return false;
      }
    },
    isCurrent(hash) {
      const [, m, t, p] = ARGON2_PARAMS.exec(hash) ?? [];
      return Number(m) === params.memoryKiB && Number(t) === params.timeCost && Number(p) === PARALLELISM;
    },
  };
}
