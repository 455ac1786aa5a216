import { and, eq, gte, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { mailOutbox, type MailOutboxRow } from '../../db/schema.js';

export interface OutgoingMail {
  userId: number | null;
  kind: string;
  recipient: string;
  subject: string;
  textBody: string;
  htmlBody: string;
}

export async function insertMail(db: Database, mail: OutgoingMail, now: Date): Promise<void> {
  await db.insert(mailOutbox).values({ ...mail, createdAt: now, nextAttemptAt: now });
}

/** A transaction-scoped lock on one address (any letter case), released when the transaction ends. */
export async function lockAddress(tx: Database, address: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`mail:${address.toLowerCase()}`}))`);
}

/** Mails of these kinds queued for `recipient` (any letter case) since `since`. */
export async function countMailsSince(db: Database, recipient: string, kinds: string[], since: Date): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(mailOutbox)
    .where(and(eq(sql`lower(${mailOutbox.recipient})`, recipient.toLowerCase()), inArray(mailOutbox.kind, kinds), gte(mailOutbox.createdAt, since)));
  return row?.n ?? 0;
}

/**
 * Claims up to `limit` mails that are due, in one statement: their next attempt is pushed to `leaseUntil`
 * and their attempt count raised. Another sender (another instance) skips the rows this one holds, and a
 * sender that dies mid-send leaves the mail to be tried again when the lease runs out.
 */
export async function claimDueMails(db: Database, now: Date, leaseUntil: Date, limit: number): Promise<MailOutboxRow[]> {
  const due = db
    .select({ id: mailOutbox.id })
    .from(mailOutbox)
    .where(and(isNull(mailOutbox.sentAt), isNull(mailOutbox.failedAt), lte(mailOutbox.nextAttemptAt, now)))
    .orderBy(mailOutbox.id)
    .limit(limit)
    .for('update', { skipLocked: true });
  return db
    .update(mailOutbox)
    .set({ nextAttemptAt: leaseUntil, attempts: sql`${mailOutbox.attempts} + 1` })
    .where(inArray(mailOutbox.id, due))
    .returning();
}

/** Delivered: the bodies (which hold a live token) are cleared. */
export async function markMailSent(db: Database, id: number, now: Date): Promise<void> {
  await db.update(mailOutbox).set({ sentAt: now, textBody: null, htmlBody: null, lastError: null }).where(eq(mailOutbox.id, id));
}

export async function markMailAttemptFailed(db: Database, id: number, error: string, next: { retryAt: Date } | { gaveUpAt: Date }): Promise<void> {
  const set = 'retryAt' in next ? { nextAttemptAt: next.retryAt } : { failedAt: next.gaveUpAt, textBody: null, htmlBody: null };
  await db.update(mailOutbox).set({ ...set, lastError: error.slice(0, 500) }).where(eq(mailOutbox.id, id));
}

/** Unsent mail of a deleted account: its tokens are gone, and it is no longer ours to write to. */
export async function deleteUnsentMailsOf(db: Database, userId: number): Promise<void> {
  await db.delete(mailOutbox).where(and(eq(mailOutbox.userId, userId), isNull(mailOutbox.sentAt)));
}

/** Delivered or abandoned mail older than `cutoff` (kept until then for the per-address limit). */
export async function deleteFinishedMailsBefore(db: Database, cutoff: Date): Promise<number> {
  const rows = await db
    .delete(mailOutbox)
    .where(and(lt(mailOutbox.createdAt, cutoff), or(sql`${mailOutbox.sentAt} is not null`, sql`${mailOutbox.failedAt} is not null`)))
    .returning({ id: mailOutbox.id });
  return rows.length;
}
