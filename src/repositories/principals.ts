import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { sessions, users, type UserRow } from '../db/schema.js';

export interface Principal {
  user: UserRow;
  /** Null when the token named no session, or the session does not exist (any more). */
  session: { revokedAt: Date | null } | null;
}

/**
 * The user behind an access token and, in the same round trip, the state of its session: checking
 * revocation costs no extra query on the hot path.
 */
export async function findPrincipal(
  db: Database,
  by: { userId: number } | { username: string },
  sessionId: string | undefined,
): Promise<Principal | undefined> {
  const userMatch = 'userId' in by ? eq(users.id, by.userId) : eq(sql`lower(${users.username})`, sql`lower(${by.username})`);
  if (sessionId === undefined) {
    const [user] = await db.select().from(users).where(userMatch).limit(1);
    return user && { user, session: null };
  }
  const [row] = await db
    .select({ user: users, revokedAt: sessions.revokedAt, sessionId: sessions.id })
    .from(users)
    .leftJoin(sessions, and(eq(sessions.id, sessionId), eq(sessions.userId, users.id)))
    .where(userMatch)
    .limit(1);
  return row && { user: row.user, session: row.sessionId === null ? null : { revokedAt: row.revokedAt } };
}
