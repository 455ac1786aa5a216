import { and, eq, isNull } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { recoveryCodes } from '../../db/schema.js';

/** The user's codes become exactly these: every earlier one, used or not, is void. */
export async function replaceRecoveryCodes(db: Database, userId: number, codeHashes: string[], now: Date): Promise<void> {
  await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await db.insert(recoveryCodes).values(codeHashes.map((codeHash) => ({ userId, codeHash, createdAt: now })));
}

/** Spends an unused code in one statement; false for an unknown or already used one (of concurrent uses, one wins). */
export async function spendRecoveryCode(db: Database, userId: number, codeHash: string, now: Date): Promise<boolean> {
  const rows = await db
    .update(recoveryCodes)
    .set({ usedAt: now })
    .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, codeHash), isNull(recoveryCodes.usedAt)))
    .returning({ id: recoveryCodes.id });
  return rows.length > 0;
}

export async function deleteRecoveryCodes(db: Database, userId: number): Promise<void> {
  await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
}
