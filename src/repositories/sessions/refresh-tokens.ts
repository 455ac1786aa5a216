import { and, eq, isNull } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { refreshTokens, sessions, type SessionRow } from '../../db/schema.js';

export type RefreshTokenRow = typeof refreshTokens.$inferSelect;

export async function insertRefreshToken(
  db: Database,
  token: { sessionId: string; tokenHash: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await db.insert(refreshTokens).values(token);
}

export async function findRefreshToken(db: Database, tokenHash: string): Promise<RefreshTokenRow | undefined> {
  const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).limit(1);
  return row;
}

/** Retires a token by rotation; false if another request already did. */
export async function markRefreshTokenUsed(db: Database, id: number, now: Date): Promise<boolean> {
  const rows = await db
    .update(refreshTokens)
    .set({ usedAt: now })
    .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt)))
    .returning({ id: refreshTokens.id });
  return rows.length > 0;
}

/**
 * The token and its session. With `forUpdate` (inside a transaction) the token row stays locked until the
 * transaction ends: concurrent refreshes of one token queue there, so exactly one rotates it and the
 * others see it already used.
 */
export async function findRefreshTokenWithSession(
  db: Database,
  tokenHash: string,
  { forUpdate = false } = {},
): Promise<{ token: RefreshTokenRow; session: SessionRow } | undefined> {
  const query = db
    .select({ token: refreshTokens, session: sessions })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .where(eq(refreshTokens.tokenHash, tokenHash));
  const [row] = forUpdate ? await query.for('update', { of: refreshTokens }) : await query.limit(1);
  return row;
}
