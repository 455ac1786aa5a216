// Second factor's tables: TOTP factors, recovery codes, pending second steps (mfa-challenges), passkeys and
// their WebAuthn challenges.
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { totpFactors, type TotpFactorRow } from '../../db/schema.js';

/**
 * The user's factor. With `forUpdate` (inside a transaction) the row stays locked until the transaction
 * ends: an enrolment replacing the secret waits, so a code is never checked against one secret while
 * another is confirmed.
 */
export async function findTotpFactor(db: Database, userId: number, { forUpdate = false } = {}): Promise<TotpFactorRow | undefined> {
  const query = db.select().from(totpFactors).where(eq(totpFactors.userId, userId));
  const [row] = forUpdate ? await query.for('update') : await query.limit(1);
  return row;
}

/**
 * Stores a new, unconfirmed secret, replacing an earlier unconfirmed one. A confirmed factor is never
 * replaced: undefined then. One statement, so a confirmation racing it cannot be overwritten.
 */
export async function putPendingTotpFactor(db: Database, userId: number, secretSealed: string, now: Date): Promise<TotpFactorRow | undefined> {
  const [row] = await db
    .insert(totpFactors)
    .values({ userId, secretSealed, createdAt: now })
    .onConflictDoUpdate({
      target: totpFactors.userId,
      set: { secretSealed, createdAt: now, lastUsedStep: null },
      setWhere: isNull(totpFactors.confirmedAt),
    })
    .returning();
  return row;
}

/**
 * Records that the code of time step `step` was accepted, unless a code of that step or a later one
 * already was (compare and set, so two requests with one code cannot both pass): false then.
 * @see RFC 6238 §5.2 — a verifier must not accept the second attempt of an OTP once the first succeeded
 */
export async function spendTotpStep(db: Database, userId: number, step: number): Promise<boolean> {
  const rows = await db
    .update(totpFactors)
    .set({ lastUsedStep: step })
    .where(and(eq(totpFactors.userId, userId), or(isNull(totpFactors.lastUsedStep), lt(totpFactors.lastUsedStep, step))))
    .returning({ userId: totpFactors.userId });
  return rows.length > 0;
}

/** Makes a pending factor active; false when it was not pending (any more). */
export async function confirmTotpFactor(db: Database, userId: number, now: Date): Promise<boolean> {
  const rows = await db
    .update(totpFactors)
    .set({ confirmedAt: now })
    .where(and(eq(totpFactors.userId, userId), isNull(totpFactors.confirmedAt)))
    .returning({ userId: totpFactors.userId });
  return rows.length > 0;
}

/** Whether there was a factor (pending or confirmed) to delete. */
export async function deleteTotpFactor(db: Database, userId: number): Promise<boolean> {
  const rows = await db.delete(totpFactors).where(eq(totpFactors.userId, userId)).returning({ userId: totpFactors.userId });
  return rows.length > 0;
}

export const isConfirmed = (factor: TotpFactorRow | undefined): factor is TotpFactorRow & { confirmedAt: Date } =>
  factor !== undefined && factor.confirmedAt !== null;

