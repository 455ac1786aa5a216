// Account mail's tables: mailed one-use tokens (reset, verify, e-mail change) and the mail outbox.
import { and, eq, gt, inArray, lte } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { accountTokens, type AccountTokenRow } from '../../db/schema.js';

export type AccountTokenPurpose = 'reset_password' | 'verify_email' | 'change_email';
/** Every purpose: what a reset voids (issue 21). */
export const ALL_TOKEN_PURPOSES: AccountTokenPurpose[] = ['reset_password', 'verify_email', 'change_email'];

export async function insertAccountToken(db: Database, token: Omit<AccountTokenRow, 'id'>): Promise<void> {
  await db.insert(accountTokens).values(token);
}

/** Voids a user's unspent tokens of these purposes (a new reset token makes the older ones void). */
export async function deleteAccountTokens(db: Database, userId: number, purposes: AccountTokenPurpose[]): Promise<void> {
  await db.delete(accountTokens).where(and(eq(accountTokens.userId, userId), inArray(accountTokens.purpose, purposes)));
}

/** The token with this hash, if it is of this purpose and not expired. */
const liveToken = (tokenHash: string, purpose: AccountTokenPurpose, now: Date) =>
  and(eq(accountTokens.tokenHash, tokenHash), eq(accountTokens.purpose, purpose), gt(accountTokens.expiresAt, now));

/** A live token of this purpose, without spending it (to check a new password before the token is spent). */
export async function findAccountToken(
  db: Database,
  tokenHash: string,
  purpose: AccountTokenPurpose,
  now: Date,
): Promise<AccountTokenRow | undefined> {
  const [row] = await db
    .select()
    .from(accountTokens)
    .where(liveToken(tokenHash, purpose, now))
    .limit(1);
  return row;
}

/**
 * Spends a token: one `DELETE … RETURNING` that checks hash, purpose and expiry and removes the row. Of
 * concurrent redemptions the database lets exactly one delete it; the others find nothing.
 */
export async function redeemAccountToken(
  db: Database,
  tokenHash: string,
  purpose: AccountTokenPurpose,
  now: Date,
): Promise<AccountTokenRow | undefined> {
  const [row] = await db
    .delete(accountTokens)
    .where(liveToken(tokenHash, purpose, now))
    .returning();
  return row;
}

export async function deleteExpiredAccountTokens(db: Database, now: Date): Promise<number> {
  const rows = await db.delete(accountTokens).where(lte(accountTokens.expiresAt, now)).returning({ id: accountTokens.id });
  return rows.length;
}
