import { eq, lt, sql, type SQL } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { loginFailures } from '../db/schema.js';

/** LOCKOUT_*: how failed attempts under one key slow the next ones (services/sign-in/lockout.ts applies it). */
export interface LockoutPolicy {
  /** Consecutive failures before the first delay. */
  threshold: number;
  /** The first delay; each further failure doubles it. */
  baseDelaySeconds: number;
  maxDelaySeconds: number;
  /** Failures older than this are forgotten. */
  resetAfterSeconds: number;
  /** How long a login waits for its turn behind concurrent logins under the same name. */
  queueWaitSeconds?: number;
}

export type LoginFailureRow = typeof loginFailures.$inferSelect;

/**
 * Keys are stored and compared as PostgreSQL's lower() makes them: the normalisation of the account lookup
 * (repositories/users.ts), so every spelling that reaches one account counts against one key. JavaScript's
 * toLowerCase() differs (İ becomes i + U+0307, a final Σ becomes ς): keyed by it, `alİce` had a budget of
 * its own beside `alice`'s.
 * @see issue 12, point 1
 */
const normalised = (key: string) => sql`lower(${key})`;

export async function findLoginFailures(db: Database, key: string): Promise<LoginFailureRow | undefined> {
  const [row] = await db.select().from(loginFailures).where(eq(loginFailures.key, normalised(key))).limit(1);
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
    .values({ key: normalised(key), failures: 1, lastFailureAt: now, lockedUntil: delayFor(sql`1`) })
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
    .where(eq(loginFailures.key, normalised(key)));
}

export async function deleteLoginFailures(db: Database, keys: string[]): Promise<number> {
  const lowered = sql.join(keys.map(normalised), sql`, `);
  const rows = await db.delete(loginFailures).where(sql`${loginFailures.key} in (${lowered})`).returning({ key: loginFailures.key });
  return rows.length;
}

export async function clearLoginFailures(db: Database, key: string): Promise<void> {
  await db.delete(loginFailures).where(eq(loginFailures.key, normalised(key)));
}

export async function deleteLoginFailuresBefore(db: Database, cutoff: Date): Promise<number> {
  const rows = await db.delete(loginFailures).where(lt(loginFailures.lastFailureAt, cutoff)).returning({ key: loginFailures.key });
  return rows.length;
}
