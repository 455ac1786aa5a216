import { and, eq, gt, isNotNull, isNull, lte, or } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { mfaChallenges, type MfaChallengeRow } from '../../db/schema.js';

export async function insertMfaChallenge(
  db: Database,
  challenge: { tokenHash: string; userId: number; createdAt: Date; expiresAt: Date; securityStamp: number; weakPassword: unknown; firstAmr?: string[] | null },
): Promise<void> {
  await db.insert(mfaChallenges).values(challenge);
}

/** A challenge neither spent nor expired. */
export async function findLiveMfaChallenge(db: Database, tokenHash: string, now: Date): Promise<MfaChallengeRow | undefined> {
  const [row] = await db
    .select()
    .from(mfaChallenges)
    .where(and(eq(mfaChallenges.tokenHash, tokenHash), isNull(mfaChallenges.usedAt), gt(mfaChallenges.expiresAt, now)))
    .limit(1);
  return row;
}

/**
 * Spends a live challenge in one statement: of concurrent redemptions exactly one gets the row back (the
 * others wait for its row lock, then find it spent).
 */
export async function spendMfaChallenge(db: Database, tokenHash: string, now: Date): Promise<MfaChallengeRow | undefined> {
  const [row] = await db
    .update(mfaChallenges)
    .set({ usedAt: now })
    .where(and(eq(mfaChallenges.tokenHash, tokenHash), isNull(mfaChallenges.usedAt), gt(mfaChallenges.expiresAt, now)))
    .returning();
  return row;
}

/** A user's spent and expired challenges (done at each new one, so the table holds only live ones). */
export async function deleteDeadMfaChallenges(db: Database, userId: number, now: Date): Promise<void> {
  await db
    .delete(mfaChallenges)
    .where(and(eq(mfaChallenges.userId, userId), or(isNotNull(mfaChallenges.usedAt), lte(mfaChallenges.expiresAt, now))));
}

export async function deleteMfaChallenges(db: Database, userId: number): Promise<void> {
  await db.delete(mfaChallenges).where(eq(mfaChallenges.userId, userId));
}
