import { eq, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { loginFailures } from '../db/schema.js';
import type { LockoutPolicy } from '../services/lockout.js';

export type LoginFailureRow = typeof loginFailures.$inferSelect;

export async function findLoginFailures(db: Database, key: string): Promise<LoginFailureRow | undefined> {
  const [row] = await db.select().from(loginFailures).where(eq(loginFailures.key, key)).limit(1);
  return row;
}

/**
 * Counts one more attempt as failed, in one atomic statement, unless a delay is running. A count whose
 * last failure is older than the policy's reset time starts again at 1. From `threshold` attempts on, the
 * delay (base, doubling, capped) is set by the same statement. Returns the new row, or undefined when a delay
 * was running (nothing was changed).
 */
export async function reserveLoginAttempt(
  db: Database,
  key: string,
  now: Date,
  policy: LockoutPolicy,
): Promise<{ failures: number; lockedUntil: Date | null } | undefined> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const resetBefore = new Date(now.getTime() - policy.resetAfterSeconds * 1000);
  const delayFor = (count: SQL) =>
    sql`case when ${count} >= ${policy.threshold} then ${at} + least(${policy.baseDelaySeconds}::float8 * power(2, ${count} - ${policy.threshold}), ${policy.maxDelaySeconds}) * interval '1 second' end`;
  const next = sql`case when ${loginFailures.lastFailureAt} < ${resetBefore.toISOString()}::timestamptz then 1 else ${loginFailures.failures} + 1 end`;
  const [row] = await db
    .insert(loginFailures)
    .values({ key, failures: 1, lastFailureAt: now, lockedUntil: delayFor(sql`1`) })
    .onConflictDoUpdate({
      target: loginFailures.key,
      set: { failures: next, lastFailureAt: now, lockedUntil: delayFor(next) },
      setWhere: sql`${loginFailures.lockedUntil} is null or ${loginFailures.lockedUntil} <= ${at}`,
    })
    .returning({ failures: loginFailures.failures, lockedUntil: loginFailures.lockedUntil });
  return row;
}

/**
 * Takes back one reserved attempt. If it had set the delay, no other attempt can have begun since, and the
 * delay goes with it; otherwise a delay set by a later attempt, still under way, stays.
 */
export async function releaseLoginAttempt(db: Database, key: string, setTheDelay: boolean): Promise<void> {
  await db
    .update(loginFailures)
    .set({ failures: sql`greatest(${loginFailures.failures} - 1, 0)`, ...(setTheDelay ? { lockedUntil: null } : {}) })
    .where(eq(loginFailures.key, key));
}

export async function deleteLoginFailures(db: Database, keys: string[]): Promise<number> {
  const rows = await db.delete(loginFailures).where(inArray(loginFailures.key, keys)).returning({ key: loginFailures.key });
  return rows.length;
}

export async function clearLoginFailures(db: Database, key: string): Promise<void> {
  await db.delete(loginFailures).where(eq(loginFailures.key, key));
}

export async function deleteLoginFailuresBefore(db: Database, cutoff: Date): Promise<number> {
  const rows = await db.delete(loginFailures).where(lt(loginFailures.lastFailureAt, cutoff)).returning({ key: loginFailures.key });
  return rows.length;
}
