// The mailed sign-in codes and links (issue 25): one live row per address, spent by one DELETE.
import { and, eq, gt, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { passwordlessCodes, type PasswordlessCodeRow } from '../../db/schema.js';

/** Wrong codes an issued code survives; the next wrong one kills it. */
export const MAX_WRONG_CODES = 5;

const sameAddress = (email: string) => eq(sql`lower(${passwordlessCodes.email})`, sql`lower(${email})`);
const live = (now: Date) => and(gt(passwordlessCodes.expiresAt, now), lt(passwordlessCodes.failedAttempts, MAX_WRONG_CODES));

/** Replaces the address's code, if any: a new request voids the older one (run under the address lock). */
export async function replaceSignInCode(db: Database, row: Omit<PasswordlessCodeRow, 'id' | 'failedAttempts'>): Promise<void> {
  await db.delete(passwordlessCodes).where(sameAddress(row.email));
  await db.insert(passwordlessCodes).values(row);
}

/** Which issued code a presented secret names: the address's (a typed code) or the link's. */
export type CodeSelector = { email: string } | { linkHash: string };
/** What must match besides: the code, the requesting browser's cookie, or the code shown on its screen. */
export type CodeProof = { codeHash: string } | { browserHash: string } | { screenCodeHash: string };

const selected = (by: CodeSelector): SQL => ('email' in by ? sameAddress(by.email) : eq(passwordlessCodes.linkHash, by.linkHash));

function proved(proof: CodeProof): SQL {
  if ('codeHash' in proof) return eq(passwordlessCodes.codeHash, proof.codeHash);
  if ('browserHash' in proof) return eq(passwordlessCodes.browserHash, proof.browserHash);
  return eq(passwordlessCodes.screenCodeHash, proof.screenCodeHash);
}

/**
 * Spends a live code whose proof matches, in one `DELETE … RETURNING`: of concurrent redemptions the
 * database lets exactly one delete the row; the others find nothing.
 */
export async function spendSignInCode(db: Database, by: CodeSelector, proof: CodeProof, now: Date): Promise<PasswordlessCodeRow | undefined> {
  const [row] = await db.delete(passwordlessCodes).where(and(selected(by), proved(proof), live(now))).returning();
  return row;
}

/** A live code, read without spending it (the link's page, opened by a person or a mail scanner). */
export async function findLiveSignInCode(db: Database, by: CodeSelector, now: Date): Promise<PasswordlessCodeRow | undefined> {
  const [row] = await db.select().from(passwordlessCodes).where(and(selected(by), live(now))).limit(1);
  return row;
}

/** Counts a wrong proof against the live code it aimed at; the fifth kills the code (the row goes). */
export async function countWrongProof(db: Database, by: CodeSelector, now: Date): Promise<void> {
  const [row] = await db
    .update(passwordlessCodes)
    .set({ failedAttempts: sql`${passwordlessCodes.failedAttempts} + 1` })
    .where(and(selected(by), live(now)))
    .returning({ id: passwordlessCodes.id, failedAttempts: passwordlessCodes.failedAttempts });
  if (row && row.failedAttempts >= MAX_WRONG_CODES) await db.delete(passwordlessCodes).where(eq(passwordlessCodes.id, row.id));
}

export async function deleteExpiredSignInCodes(db: Database, now: Date): Promise<number> {
  const rows = await db.delete(passwordlessCodes).where(lte(passwordlessCodes.expiresAt, now)).returning({ id: passwordlessCodes.id });
  return rows.length;
}
