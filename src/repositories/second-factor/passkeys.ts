import { and, asc, eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { passkeys, type PasskeyRow } from '../../db/schema.js';

export async function insertPasskey(
  db: Database,
  row: { userId: number; credentialId: string; publicKey: string; signCount: number; transports: string[]; name: string; createdAt: Date },
): Promise<PasskeyRow> {
  const [inserted] = await db.insert(passkeys).values(row).returning();
  return inserted!;
}

export async function findPasskeysOf(db: Database, userId: number): Promise<PasskeyRow[]> {
  return db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.id));
}

export async function findPasskeyByCredentialId(db: Database, credentialId: string): Promise<PasskeyRow | undefined> {
  const [row] = await db.select().from(passkeys).where(eq(passkeys.credentialId, credentialId)).limit(1);
  return row;
}

export async function markPasskeyUsed(db: Database, id: number, signCount: number, now: Date): Promise<void> {
  await db.update(passkeys).set({ signCount, lastUsedAt: now }).where(eq(passkeys.id, id));
}

/** Only the owner's passkey: false for an unknown id or someone else's. */
export async function renamePasskey(db: Database, userId: number, id: number, name: string): Promise<boolean> {
  const rows = await db.update(passkeys).set({ name }).where(and(eq(passkeys.id, id), eq(passkeys.userId, userId))).returning({ id: passkeys.id });
  return rows.length > 0;
}

/** Removes every passkey of the user (a reset, a first verification: issue 21); returns their names. */
export async function deletePasskeysOf(db: Database, userId: number): Promise<string[]> {
  const rows = await db.delete(passkeys).where(eq(passkeys.userId, userId)).returning({ name: passkeys.name });
  return rows.map((r) => r.name);
}

export async function deletePasskey(db: Database, userId: number, id: number): Promise<boolean> {
  const rows = await db.delete(passkeys).where(and(eq(passkeys.id, id), eq(passkeys.userId, userId))).returning({ id: passkeys.id });
  return rows.length > 0;
}
