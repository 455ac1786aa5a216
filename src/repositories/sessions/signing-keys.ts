import { desc, gt, isNull, or } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { signingKeys, type SigningKeyRow } from '../../db/schema.js';

/** The active key and those retired after `retiredAfter` (their tokens may still be unexpired), newest first. */
export function listUsableSigningKeys(db: Database, retiredAfter: Date): Promise<SigningKeyRow[]> {
  return db
    .select()
    .from(signingKeys)
    .where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, retiredAfter)))
    .orderBy(desc(signingKeys.createdAt));
}

export async function findActiveSigningKey(db: Database): Promise<SigningKeyRow | undefined> {
  const [row] = await db.select().from(signingKeys).where(isNull(signingKeys.retiredAt)).limit(1);
  return row;
}

/**
 * Retires the active key and makes `key` the active one, in one transaction. A concurrent replacement
 * fails with a unique violation (one active key, enforced by `signing_keys_one_active_key`).
 */
export async function replaceActiveSigningKey(db: Database, key: Omit<SigningKeyRow, 'retiredAt'>): Promise<string[]> {
  return db.transaction(async (tx) => {
    const retired = await tx
      .update(signingKeys)
      .set({ retiredAt: key.createdAt })
      .where(isNull(signingKeys.retiredAt))
      .returning({ kid: signingKeys.kid });
    await tx.insert(signingKeys).values(key);
    return retired.map((r) => r.kid);
  });
}
