import { eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { browserSessions, sessions, users, type SessionRow, type UserRow } from '../../db/schema.js';

export async function insertBrowserSession(db: Database, row: { tokenHash: string; sessionId: string; createdAt: Date }): Promise<void> {
  await db.insert(browserSessions).values(row);
}

/** The session and user a cookie's token hash names, in one query; the caller decides whether it is still open. */
export async function findBrowserSession(db: Database, tokenHash: string): Promise<{ session: SessionRow; user: UserRow } | undefined> {
  const [row] = await db
    .select({ session: sessions, user: users })
    .from(browserSessions)
    .innerJoin(sessions, eq(sessions.id, browserSessions.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(browserSessions.tokenHash, tokenHash))
    .limit(1);
  return row;
}

export async function deleteBrowserSession(db: Database, tokenHash: string): Promise<void> {
  await db.delete(browserSessions).where(eq(browserSessions.tokenHash, tokenHash));
}
