// Repositories: queries, (db | tx, args) → plain rows. Tables several capabilities share (users, audit events,
// login failures) live at this folder's root; a table of one capability lives in that capability's folder.
import { and, eq, or, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { users, type UserRow } from '../db/schema.js';
import { DomainError } from '../errors.js';
import { isUniqueViolation } from './pg-errors.js';

export async function insertUser(
  db: Database,
  user: { username: string; email: string; hashPassword: string; tokensValidAfter: Date },
): Promise<UserRow> {
  try {
    const [row] = await db.insert(users).values(user).returning();
    return row!;
  } catch (error) {
    // The unique indexes on lower(username) and lower(email) decide races between concurrent sign-ups.
    if (isUniqueViolation(error)) throw new DomainError('USER_ALREADY_EXISTS', { cause: error });
    throw error;
  }
}

/** A username or an email, compared case-insensitively; served by the `lower(...)` unique indexes. */
export async function findUserByLogin(db: Database, login: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(or(eq(sql`lower(${users.username})`, sql`lower(${login})`), eq(sql`lower(${users.email})`, sql`lower(${login})`)))
    .limit(1);
  return row;
}

export async function findUserById(db: Database, id: number): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return row;
}

export async function updatePasswordHash(db: Database, id: number, hashPassword: string, now: Date): Promise<void> {
  await db.update(users).set({ hashPassword, updatedAt: now }).where(eq(users.id, id));
}

/** Whole seconds, because `iat` is in seconds: a token issued later in the same second must stay valid. */
export function tokensValidFrom(now: Date): Date {
  return new Date(Math.floor(now.getTime() / 1000) * 1000);
}

/**
 * Access tokens with an `iat` before `now` (or none, like the Python service's) stop verifying, and the
 * security stamp moves on, so a login that read the row before cannot open a session after.
 */
export async function revokeAccessTokensIssuedBefore(db: Database, id: number, now: Date): Promise<void> {
  await db
    .update(users)
    .set({ tokensValidAfter: tokensValidFrom(now), securityStamp: sql`${users.securityStamp} + 1` })
    .where(eq(users.id, id));
}

/** The security stamp moves on (logins in flight and e-mail changes requested before are void), tokens stay. */
export async function bumpSecurityStamp(db: Database, id: number): Promise<void> {
  await db.update(users).set({ securityStamp: sql`${users.securityStamp} + 1` }).where(eq(users.id, id));
}

/** Kept in the transaction that confirms, disables or resets the user's second factor. */
export async function setMfaEnabled(db: Database, id: number, enabled: boolean, now: Date): Promise<void> {
  await db.update(users).set({ mfaEnabled: enabled, updatedAt: now }).where(eq(users.id, id));
}

/** By e-mail address only (any letter case): the mailed flows take an address, never a username. */
export async function findUserByEmail(db: Database, email: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(sql`lower(${users.email})`, sql`lower(${email})`)).limit(1);
  return row;
}

/** Applies a profile change; a name another account has (any letter case) is USER_ALREADY_EXISTS. */
export async function updateUserProfile(db: Database, id: number, change: { username?: string; email?: string; emailVerified?: boolean }, now: Date): Promise<UserRow | undefined> {
  try {
    const [row] = await db.update(users).set({ ...change, updatedAt: now }).where(eq(users.id, id)).returning();
    return row;
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('USER_ALREADY_EXISTS', { cause: error });
    throw error;
  }
}

/** Marks the address verified, only while the account still has the address the token was sent to. */
export async function markEmailVerified(db: Database, id: number, email: string, now: Date): Promise<UserRow | undefined> {
  const [row] = await db
    .update(users)
    .set({ emailVerified: true, updatedAt: now })
    .where(and(eq(users.id, id), eq(sql`lower(${users.email})`, email.toLowerCase())))
    .returning();
  return row;
}

/** Deletes the account; its sessions, refresh tokens and mailed tokens go with it (foreign keys cascade). */
export async function deleteUser(db: Database, id: number): Promise<UserRow | undefined> {
  const [row] = await db.delete(users).where(eq(users.id, id)).returning();
  return row;
}

export async function recordLogin(db: Database, id: number, now: Date): Promise<void> {
  await db.update(users).set({ lastLoginAt: now }).where(eq(users.id, id));
}
