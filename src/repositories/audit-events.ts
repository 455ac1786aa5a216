import { and, desc, eq, gte, lt, sql, type SQL } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { auditEvents } from '../db/schema.js';

export type AuditEventInput = typeof auditEvents.$inferInsert;
export type AuditEventRow = typeof auditEvents.$inferSelect;

export async function insertAuditEvent(db: Database, event: AuditEventInput): Promise<void> {
  await db.insert(auditEvents).values(event);
}

export async function deleteAuditEventsBefore(db: Database, cutoff: Date): Promise<number> {
  const rows = await db.delete(auditEvents).where(lt(auditEvents.occurredAt, cutoff)).returning({ id: auditEvents.id });
  return rows.length;
}

/** The newest events first, optionally of one user and of one type. */
export async function listAuditEvents(db: Database, filter: { userId?: number; type?: string; limit: number }): Promise<AuditEventRow[]> {
  const conditions: SQL[] = [];
  if (filter.userId !== undefined) conditions.push(eq(auditEvents.userId, filter.userId));
  if (filter.type !== undefined) conditions.push(eq(auditEvents.type, filter.type));
  return db
    .select()
    .from(auditEvents)
    .where(and(...conditions))
    .orderBy(desc(auditEvents.occurredAt), desc(auditEvents.id))
    .limit(filter.limit);
}

/** Keeps a deleted account's events, naming it by id only: the login names in their details go. */
export async function removeNamesFromAuditEvents(db: Database, userId: number): Promise<void> {
  await db
    .update(auditEvents)
    .set({ details: sql`${auditEvents.details} - 'login' - 'username' - 'email'` })
    .where(and(eq(auditEvents.userId, userId), sql`${auditEvents.details} is not null`));
}

export interface UserEventsFilter {
  userId: number;
  type?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Keyset cursor: only events with a smaller id. */
  before?: number | undefined;
  limit: number;
}

/** One user's events, newest first by id (stable while new events arrive), for the admin API. */
export async function listUserAuditEvents(db: Database, filter: UserEventsFilter): Promise<AuditEventRow[]> {
  return userAuditEventsQuery(db, filter);
}

export function userAuditEventsQuery(db: Database, filter: UserEventsFilter) {
  const conditions: SQL[] = [eq(auditEvents.userId, filter.userId)];
  if (filter.type !== undefined) conditions.push(eq(auditEvents.type, filter.type));
  if (filter.since !== undefined) conditions.push(gte(auditEvents.occurredAt, filter.since));
  if (filter.until !== undefined) conditions.push(lt(auditEvents.occurredAt, filter.until));
  if (filter.before !== undefined) conditions.push(lt(auditEvents.id, filter.before));
  return db
    .select()
    .from(auditEvents)
    .where(and(...conditions))
    .orderBy(desc(auditEvents.id))
    .limit(filter.limit);
}
