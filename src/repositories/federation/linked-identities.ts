// Federation's table: identities at other OpenID providers linked to our accounts.
import { and, asc, count, eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { linkedIdentities, users, type LinkedIdentityRow, type UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { isUniqueViolation } from '../pg-errors.js';

export interface IdentityClaims {
  provider: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
}

export async function findIdentity(db: Database, provider: string, subject: string): Promise<LinkedIdentityRow | undefined> {
  const [row] = await db
    .select()
    .from(linkedIdentities)
    .where(and(eq(linkedIdentities.provider, provider), eq(linkedIdentities.subject, subject)))
    .limit(1);
  return row;
}

/** Links an identity; the unique (provider, subject) index decides two concurrent first sign-ins. */
export async function insertIdentity(db: Database, userId: number, identity: IdentityClaims, now: Date): Promise<LinkedIdentityRow> {
  try {
    const [row] = await db
      .insert(linkedIdentities)
      .values({ userId, ...identity, createdAt: now, lastUsedAt: now })
      .returning();
    return row!;
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('OIDC_IDENTITY_IN_USE', { cause: error });
    throw error;
  }
}

/** What the provider said at this sign-in replaces what it said before. */
export async function touchIdentity(db: Database, id: number, stated: { email: string | null; emailVerified: boolean }, now: Date): Promise<void> {
  await db.update(linkedIdentities).set({ ...stated, lastUsedAt: now }).where(eq(linkedIdentities.id, id));
}

export async function findIdentitiesOf(db: Database, userId: number): Promise<LinkedIdentityRow[]> {
  return db.select().from(linkedIdentities).where(eq(linkedIdentities.userId, userId)).orderBy(asc(linkedIdentities.id));
}

export async function countIdentitiesOf(db: Database, userId: number): Promise<number> {
  const [row] = await db.select({ n: count() }).from(linkedIdentities).where(eq(linkedIdentities.userId, userId));
  return row?.n ?? 0;
}

/** Unlinks every identity of the user (a reset, a first verification: issue 21); returns their providers. */
export async function deleteIdentitiesOf(db: Database, userId: number): Promise<string[]> {
  const rows = await db.delete(linkedIdentities).where(eq(linkedIdentities.userId, userId)).returning({ provider: linkedIdentities.provider });
  return rows.map((r) => r.provider);
}

export async function deleteIdentity(db: Database, userId: number, id: number): Promise<boolean> {
  const removed = await db
    .delete(linkedIdentities)
    .where(and(eq(linkedIdentities.id, id), eq(linkedIdentities.userId, userId)))
    .returning({ id: linkedIdentities.id });
  return removed.length > 0;
}

/** The user's row, locked until the transaction ends: changes to the ways in of one account happen one at a time. */
export async function lockUser(db: Database, id: number): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).for('update');
  return row;
}
