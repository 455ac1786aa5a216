import type { Clock } from '../../clock.js';
import type { AsymmetricAlgorithm, JwtKeys, PublicJwk, SigningKey } from '../../crypto/jwt.js';
import { generateSigningKey, importPrivateKey, importPublicKey, openPrivateKey, sealPrivateKey } from '../../crypto/signing-keys.js';
import type { Database } from '../../db/client.js';
import type { SigningKeyRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { isUniqueViolation } from '../../repositories/pg-errors.js';
import { findActiveSigningKey, listUsableSigningKeys, replaceActiveSigningKey } from '../../repositories/sessions/signing-keys.js';

export interface KeyringOptions {
  algorithm: AsymmetricAlgorithm;
  secretKey: string;
  /** A retired key keeps verifying (and stays in the JWKS) this long: its last token has expired by then. */
  accessTokenTtlSeconds: number;
}

interface KeyringDeps {
  db: Database;
  clock: Clock;
}

/** How often the ring re-reads the table, so `keys rotate` (run in another process) reaches every instance. */
export const KEYRING_REFRESH_MS = 60_000;
/**
 * A token with an unknown kid may have been signed by another instance with a key newer than our copy;
 * such tokens re-read the table, but at most this often, so junk tokens cannot turn into a query each.
 */
export const UNKNOWN_KID_RELOAD_MS = 5_000;

interface PublicKey {
  alg: AsymmetricAlgorithm;
  key: CryptoKey;
  jwk: PublicJwk;
  retiredAt: Date | null;
}

/**
 * A new key signs from now on; the previous one keeps verifying until its tokens have expired. Running
 * instances pick the new key up within KEYRING_REFRESH_MS (`user-services keys rotate`).
 */
export async function rotateSigningKey(
  deps: KeyringDeps,
  options: Pick<KeyringOptions, 'algorithm' | 'secretKey'>,
): Promise<{ kid: string; retired: string[] }> {
  const key = await generateSigningKey(options.algorithm);
  const retired = await replaceActiveSigningKey(deps.db, {
    kid: key.kid,
    algorithm: key.algorithm,
    publicJwk: key.publicJwk,
    privateKeyEncrypted: sealPrivateKey(key.privateKeyPem, options.secretKey, key.kid),
    createdAt: deps.clock.now(),
  });
  return { kid: key.kid, retired };
}

/**
 * Makes sure the active key is of the configured algorithm (the first start, or JWT_ALGORITHM changed).
 * Instances starting at once race on the one-active-key index: the loser simply uses the winner's key.
 */
async function ensureActiveKey(deps: KeyringDeps, options: KeyringOptions): Promise<void> {
  const active = await findActiveSigningKey(deps.db);
  if (active?.algorithm === options.algorithm) return;
  try {
    await rotateSigningKey(deps, options);
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
  }
}

/**
 * The asymmetric key ring: keys live in `signing_keys` (private halves sealed with SECRET_KEY) and are
 * cached here, re-read every KEYRING_REFRESH_MS. Each key verifies only its own algorithm.
 */
export async function openKeyring(deps: KeyringDeps, options: KeyringOptions): Promise<JwtKeys> {
  await ensureActiveKey(deps, options);
  const ttlMs = options.accessTokenTtlSeconds * 1000;
  let publicKeys = new Map<string, PublicKey>();
  let signer: SigningKey | undefined;
  let loadedAt = -Infinity;
  let loading: Promise<void> | undefined;

  const toPublicKey = async (row: SigningKeyRow): Promise<PublicKey> => {
    const known = publicKeys.get(row.kid);
    const alg = row.algorithm as AsymmetricAlgorithm;
    const key = known?.key ?? (await importPublicKey(row.publicJwk as PublicJwk, alg));
    return { alg, key, jwk: row.publicJwk as PublicJwk, retiredAt: row.retiredAt };
  };

  const load = async () => {
    const now = deps.clock.now();
    const rows = await listUsableSigningKeys(deps.db, new Date(now.getTime() - ttlMs));
    const next = new Map<string, PublicKey>();
    for (const row of rows) next.set(row.kid, await toPublicKey(row));
    const active = rows.find((row) => row.retiredAt === null);
    if (active === undefined) throw new Error('No active signing key: run `user-services keys rotate`.');
    if (signer?.kid !== active.kid) {
      const alg = active.algorithm as AsymmetricAlgorithm;
      const pem = openPrivateKey(active.privateKeyEncrypted, options.secretKey, active.kid);
      signer = { alg, kid: active.kid, key: await importPrivateKey(pem, alg) };
    }
    publicKeys = next;
    loadedAt = now.getTime();
  };

  const reloadIfOlderThan = async (ms: number) => {
    if (deps.clock.now().getTime() - loadedAt < ms) return;
    loading ??= load().finally(() => (loading = undefined));
    await loading;
  };

  await load();
  return {
    algorithms: ['EdDSA', 'ES256', 'RS256'],
    async signingKey() {
      await reloadIfOlderThan(KEYRING_REFRESH_MS);
      return signer!;
    },
    async verificationKey(header) {
      if (header.kid === undefined) throw new DomainError('INVALID_TOKEN');
      if (!publicKeys.has(header.kid)) await reloadIfOlderThan(UNKNOWN_KID_RELOAD_MS);
      const found = publicKeys.get(header.kid);
      // RFC 8725 §3.1: the key decides the algorithm, never the token.
      if (found === undefined || found.alg !== header.alg) throw new DomainError('INVALID_TOKEN');
      return found.key;
    },
    async jwks() {
      await reloadIfOlderThan(KEYRING_REFRESH_MS);
      const since = deps.clock.now().getTime() - ttlMs;
      const keys = [...publicKeys.values()].filter((k) => k.retiredAt === null || k.retiredAt.getTime() > since);
      return { keys: keys.map((k) => k.jwk) };
    },
  };
}
