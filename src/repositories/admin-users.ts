import { and, arrayContains, asc, count, eq, getTableColumns, gt, isNull, like, lte, not, or, sql, type SQL } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { sessions, users, type UserRow } from '../db/schema.js';
import { DomainError } from '../errors.js';
import { isUniqueViolation } from './pg-errors.js';

/** A user as an admin sees it: every column but the password hash. */
export type AdminUserRow = Omit<UserRow, 'hashPassword'>;

const { hashPassword: _hash, ...adminColumns } = getTableColumns(users);

export type StatusFilter = 'active' | 'disabled' | 'banned';

export interface UserListFilter {
  /** Prefix of the username or the e-mail, any letter case. */
  q?: string | undefined;
  status?: StatusFilter | undefined;
  role?: string | undefined;
  /** Keyset cursor: only users with a greater id. */
  after?: number | undefined;
  limit: number;
  now: Date;
}

/** LIKE's wildcards (and its escape character) in a search term match themselves. */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

function statusCondition(status: StatusFilter, now: Date): SQL {
  const notBanned = or(isNull(users.bannedUntil), lte(users.bannedUntil, now))!;
  switch (status) {
    case 'disabled':
      // Matches the partial index users_disabled_idx.
      return not(users.isActive);
    case 'banned':
      // Implies banned_until is not null: served by the partial index users_banned_idx.
      return and(eq(users.isActive, true), gt(users.bannedUntil, now))!;
    case 'active':
      return and(eq(users.isActive, true), notBanned)!;
  }
}

/**
 * One page of users in id order, which is stable: rows inserted meanwhile get larger ids, so walking the
 * pages with `after` never repeats or skips a user. (Only a registration still uncommitted while a later
 * id's page is read can be passed over, as in any keyset walk; it shows in the next listing.) Returned
 * unexecuted so the query-plan test explains exactly this statement.
 */
export function userListQuery(db: Database, filter: UserListFilter) {
  const conditions: SQL[] = [];
  if (filter.after !== undefined) conditions.push(gt(users.id, filter.after));
  if (filter.q !== undefined) {
    // lower(column) LIKE 'prefix%' is served by the text_pattern_ops indexes.
    const pattern = sql`lower(${`${escapeLike(filter.q)}%`})`;
    conditions.push(or(like(sql`lower(${users.username})`, pattern), like(sql`lower(${users.email})`, pattern))!);
  }
  if (filter.status !== undefined) conditions.push(statusCondition(filter.status, filter.now));
  // The first condition matches the partial index users_with_roles_idx, which is in id order.
  if (filter.role !== undefined) conditions.push(sql`${users.roles} <> '{}'::text[]`, arrayContains(users.roles, [filter.role]));
  return db
    .select(adminColumns)
    .from(users)
    .where(and(...conditions))
    .orderBy(asc(users.id))
    .limit(filter.limit);
}

export async function findAdminUser(db: Database, id: number): Promise<AdminUserRow | undefined> {
  const [row] = await db.select(adminColumns).from(users).where(eq(users.id, id)).limit(1);
  return row;
}

/** Locks the user's row until the transaction ends. */
export async function lockUser(tx: Database, id: number): Promise<UserRow | undefined> {
  const [row] = await tx.select().from(users).where(eq(users.id, id)).for('update');
  return row;
}

/**
 * The ids of the users who can act as admins now (role `admin`, enabled, not banned), their rows locked in
 * id order. Two transactions that each take this lock first are serialised: the second one, once the first
 * commits, re-checks the rows it waited for, so it sees an admin the first one demoted as demoted.
 */
export async function lockActiveAdmins(tx: Database, now: Date): Promise<number[]> {
  const rows = await activeAdminsQuery(tx, now);
  return rows.map((r) => r.id);
}

/** Served by the GIN index on roles (admins are few); unexecuted for the query-plan test. */
export function activeAdminsQuery(db: Database, now: Date) {
  return db
    .select({ id: users.id })
    .from(users)
    .where(and(arrayContains(users.roles, ['admin']), statusCondition('active', now)))
    .orderBy(asc(users.id))
    .for('update');
}

export type UserUpdate = Partial<Pick<UserRow, 'username' | 'email' | 'emailVerified' | 'roles' | 'isActive' | 'bannedUntil'>>;

export async function updateUser(tx: Database, id: number, changes: UserUpdate, now: Date): Promise<void> {
  try {
    await tx.update(users).set({ ...changes, updatedAt: now }).where(eq(users.id, id));
  } catch (error) {
    // The same case-insensitive unique indexes as registration.
    if (isUniqueViolation(error)) throw new DomainError('USER_ALREADY_EXISTS', { cause: error });
    throw error;
  }
}

/** Adds or removes one role in a single statement (no lost update against a concurrent change). */
export async function changeRole(db: Database, id: number, role: string, action: 'add' | 'remove', now: Date): Promise<string[] | undefined> {
  const roles =
    action === 'add'
      ? sql`case when ${role} = any(${users.roles}) then ${users.roles} else array_append(${users.roles}, ${role}::text) end`
      : sql`array_remove(${users.roles}, ${role}::text)`;
  const [row] = await db.update(users).set({ roles, updatedAt: now }).where(eq(users.id, id)).returning({ roles: users.roles });
  return row?.roles;
}

/** Sessions neither revoked, nor past their absolute end, nor idle since before `idleCutoff`. */
export async function countActiveSessions(db: Database, userId: number, now: Date, idleCutoff: Date): Promise<number> {
  const [row] = await activeSessionCountQuery(db, userId, now, idleCutoff);
  return Number(row?.n ?? 0);
}

export function activeSessionCountQuery(db: Database, userId: number, now: Date, idleCutoff: Date) {
  return db
    .select({ n: count() })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now), gt(sessions.lastUsedAt, idleCutoff)));
}
