import { and, desc, eq, gt, isNull } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { sessions, type SessionRow } from '../db/schema.js';

export async function insertSession(
  db: Database,
  session: { userId: number; now: Date; expiresAt: Date; userAgent: string | null; ip: string | null; amr: string[] },
): Promise<SessionRow> {
  const [row] = await db
    .insert(sessions)
    .values({
      userId: session.userId,
      createdAt: session.now,
      lastUsedAt: session.now,
      expiresAt: session.expiresAt,
      userAgent: session.userAgent,
      ip: session.ip,
      amr: session.amr,
    })
    .returning();
  return row!;
}

/** Sessions neither revoked nor past their absolute end; the idle limit is applied by the caller. */
export async function findOpenSessions(db: Database, userId: number, now: Date): Promise<SessionRow[]> {
  return db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.lastUsedAt));
}

export async function touchSession(db: Database, id: string, now: Date): Promise<void> {
  await db.update(sessions).set({ lastUsedAt: now }).where(eq(sessions.id, id));
}

/** Ends one session of `userId`; false when there is no such open session of that user. */
export async function revokeSession(
  db: Database,
  target: { id: string; userId?: number },
  now: Date,
  reason: string,
): Promise<boolean> {
  const conditions = [eq(sessions.id, target.id), isNull(sessions.revokedAt)];
  if (target.userId !== undefined) conditions.push(eq(sessions.userId, target.userId));
  const rows = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(...conditions))
    .returning({ id: sessions.id });
  return rows.length > 0;
}

export async function revokeUserSessions(db: Database, userId: number, now: Date, reason: string): Promise<number> {
  const rows = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  return rows.length;
}
