import { and, eq, gt, lte } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { webauthnChallenges } from '../../db/schema.js';

export type ChallengePurpose = 'registration' | 'authentication';

export async function insertWebauthnChallenge(
  db: Database,
  row: { challengeHash: string; purpose: ChallengePurpose; userId: number | null; createdAt: Date; expiresAt: Date },
): Promise<void> {
  // Expired challenges go as new ones come: the table holds only live ones (and never grows without bound).
  await db.delete(webauthnChallenges).where(lte(webauthnChallenges.expiresAt, row.createdAt));
  await db.insert(webauthnChallenges).values(row);
}

/**
 * Spends a live challenge of `purpose` in one statement (DELETE … RETURNING): of concurrent redemptions
 * exactly one gets the row. Returns its user (null for a sign-in challenge), or undefined when there is none.
 */
export async function spendWebauthnChallenge(
  db: Database,
  challengeHash: string,
  purpose: ChallengePurpose,
  now: Date,
): Promise<{ userId: number | null } | undefined> {
  const [row] = await db
    .delete(webauthnChallenges)
    .where(and(eq(webauthnChallenges.challengeHash, challengeHash), eq(webauthnChallenges.purpose, purpose), gt(webauthnChallenges.expiresAt, now)))
    .returning({ userId: webauthnChallenges.userId });
  return row;
}
