import { lt } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { auditEvents } from '../db/schema.js';

export type AuditEventInput = typeof auditEvents.$inferInsert;

export async function insertAuditEvent(db: Database, event: AuditEventInput): Promise<void> {
  await db.insert(auditEvents).values(event);
}

export async function deleteAuditEventsBefore(db: Database, cutoff: Date): Promise<number> {
  const rows = await db.delete(auditEvents).where(lt(auditEvents.occurredAt, cutoff)).returning({ id: auditEvents.id });
  return rows.length;
}
