import { and, eq } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { users } from '../db/schema.js';

/**
 * Swaps a stored hash for an equivalent one (same password, current algorithm and cost), only while the row
 * still holds `outdated`: a password changed in the meantime is never overwritten with the old one.
 * `updated_at` stays: nothing the user set has changed. Returns whether the row was updated.
 */
export async function replaceOutdatedPasswordHash(db: Database, id: number, outdated: string, replacement: string): Promise<boolean> {
  const rows = await db
    .update(users)
    .set({ hashPassword: replacement })
    .where(and(eq(users.id, id), eq(users.hashPassword, outdated)))
    .returning({ id: users.id });
  return rows.length > 0;
}
