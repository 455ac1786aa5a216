import { eq, lt, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { loginFailures } from '../db/schema.js';

export type LoginFailureRow = typeof loginFailures.$inferSelect;

export async function findLoginFailures(db: Database, key: string): Promise<LoginFailureRow | undefined> {
  const [row] = await db.select().from(loginFailures).where(eq(loginFailures.key, key)).limit(1);
  return row;
}

/**
 * Counts one more consecutive failure, atomically (concurrent guesses cannot under-count). A count whose
 * last failure is older than `resetBefore` starts again at 1. Returns the new count.
 */
export async function incrementLoginFailures(db: Database, key: string, now: Date, resetBefore: Date): Promise<number> {
  const [row] = await db
    .insert(loginFailures)
    .values({ key, failures: 1, lastFailureAt: now })
    .onConflictDoUpdate({
      target: loginFailures.key,
      set: {
        failures: sql`case when ${loginFailures.lastFailureAt} < ${resetBefore.toISOString()}::timestamptz then 1 else ${loginFailures.failures} + 1 end`,
        lastFailureAt: now,
      },
    })
    .returning({ failures: loginFailures.failures });
  return row!.failures;
}

export async function setLockedUntil(db: Database, key: string, until: Date): Promise<void> {
  await db.update(loginFailures).set({ lockedUntil: until }).where(eq(loginFailures.key, key));
}

export async function clearLoginFailures(db: Database, key: string): Promise<void> {
  await db.delete(loginFailures).where(eq(loginFailures.key, key));
}

export async function deleteLoginFailuresBefore(db: Database, cutoff: Date): Promise<number> {
  const rows = await db.delete(loginFailures).where(lt(loginFailures.lastFailureAt, cutoff)).returning({ key: loginFailures.key });
  return rows.length;
}
