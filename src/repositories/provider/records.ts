// Provider's tables: oidc-provider's records (sessions, codes, grants, tokens…) and the registered clients.
import { and, eq, isNotNull, lte, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { providerClients, providerRecords } from '../../db/schema.js';

export interface ProviderRecord {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grantId: string | null;
  uid: string | null;
  userCode: string | null;
  accountId: string | null;
  expiresAt: Date | null;
}

/** Inserts or replaces a record (oidc-provider saves a session again on every change). */
export async function upsertProviderRecord(db: Database, record: ProviderRecord): Promise<void> {
  const { model, id, ...rest } = record;
  await db
    .insert(providerRecords)
    .values(record)
    .onConflictDoUpdate({ target: [providerRecords.model, providerRecords.id], set: { ...rest, consumedAt: null } });
}

/** The record, unless it has expired: a row past its time is as good as gone even before housekeeping runs. */
export async function findProviderRecord(db: Database, model: string, where: 'id' | 'uid' | 'userCode', value: string, now: Date) {
  const column = { id: providerRecords.id, uid: providerRecords.uid, userCode: providerRecords.userCode }[where];
  const [row] = await db
    .select({ payload: providerRecords.payload, consumedAt: providerRecords.consumedAt })
    .from(providerRecords)
    .where(and(eq(providerRecords.model, model), eq(column, value), sql`(${providerRecords.expiresAt} is null or ${providerRecords.expiresAt} > ${now})`))
    .limit(1);
  return row;
}

/** Marks a code or token spent; the library refuses a consumed one and revokes what it issued (replay). */
export async function consumeProviderRecord(db: Database, model: string, id: string, now: Date): Promise<void> {
  await db.update(providerRecords).set({ consumedAt: now }).where(and(eq(providerRecords.model, model), eq(providerRecords.id, id)));
}

export async function deleteProviderRecord(db: Database, model: string, id: string): Promise<void> {
  await db.delete(providerRecords).where(and(eq(providerRecords.model, model), eq(providerRecords.id, id)));
}

/** Every record of a grant, whatever its model: a revoked grant leaves no token behind. */
export async function deleteProviderGrant(db: Database, grantId: string): Promise<number> {
  const rows = await db.delete(providerRecords).where(eq(providerRecords.grantId, grantId)).returning({ id: providerRecords.id });
  return rows.length;
}

/**
 * Everything the provider holds for an account (sessions, grants, codes, tokens): it ends when our own
 * sessions end (logout-all, password change or reset, disabling, banning, deletion).
 */
export async function deleteProviderRecordsOfAccount(db: Database, accountId: string): Promise<number> {
  const grants = db.select({ grantId: providerRecords.grantId }).from(providerRecords).where(and(eq(providerRecords.accountId, accountId), isNotNull(providerRecords.grantId)));
  const rows = await db
    .delete(providerRecords)
    .where(sql`${providerRecords.accountId} = ${accountId} or ${providerRecords.grantId} in (${grants})`)
    .returning({ id: providerRecords.id });
  return rows.length;
}

export async function deleteExpiredProviderRecords(db: Database, now: Date): Promise<number> {
  const rows = await db
    .delete(providerRecords)
    .where(and(isNotNull(providerRecords.expiresAt), lte(providerRecords.expiresAt, now)))
    .returning({ id: providerRecords.id });
  return rows.length;
}

/** Stores a record only if none is there yet; the one that is there afterwards is returned (start-up races). */
export async function insertProviderRecordOnce(db: Database, record: ProviderRecord): Promise<Record<string, unknown>> {
  await db.insert(providerRecords).values(record).onConflictDoNothing();
  const [row] = await db
    .select({ payload: providerRecords.payload })
    .from(providerRecords)
    .where(and(eq(providerRecords.model, record.model), eq(providerRecords.id, record.id)));
  return row!.payload as Record<string, unknown>;
}

/** The newest live grant an account gave a client: its consent is remembered across sign-ins. */
export async function findGrantIdFor(db: Database, accountId: string, clientId: string, now: Date): Promise<string | undefined> {
  const [row] = await db
    .select({ id: providerRecords.id })
    .from(providerRecords)
    .where(
      and(
        eq(providerRecords.model, 'Grant'),
        eq(providerRecords.accountId, accountId),
        sql`${providerRecords.payload}->>'clientId' = ${clientId}`,
        sql`(${providerRecords.expiresAt} is null or ${providerRecords.expiresAt} > ${now})`,
      ),
    )
    .orderBy(sql`${providerRecords.expiresAt} desc nulls first`)
    .limit(1);
  return row?.id;
}

/** The applications an account has granted access, with what they were granted (live grants only). */
export async function listGrantsOfAccount(db: Database, accountId: string, now: Date) {
  return db
    .select({
      clientId: sql<string>`${providerRecords.payload}->>'clientId'`,
      clientName: providerClients.name,
      scope: sql<string | null>`${providerRecords.payload}->'openid'->>'scope'`,
    })
    .from(providerRecords)
    .innerJoin(providerClients, eq(providerClients.clientId, sql`${providerRecords.payload}->>'clientId'`))
    .where(and(eq(providerRecords.model, 'Grant'), eq(providerRecords.accountId, accountId), sql`(${providerRecords.expiresAt} is null or ${providerRecords.expiresAt} > ${now})`))
    .orderBy(providerClients.name);
}

/** Ends every grant an account gave one client, and every code and token issued under them. */
export async function deleteGrantsOfAccountForClient(db: Database, accountId: string, clientId: string): Promise<number> {
  const grants = db
    .select({ id: providerRecords.id })
    .from(providerRecords)
    .where(and(eq(providerRecords.model, 'Grant'), eq(providerRecords.accountId, accountId), sql`${providerRecords.payload}->>'clientId' = ${clientId}`));
  const rows = await db
    .delete(providerRecords)
    .where(sql`${providerRecords.grantId} in (${grants}) or (${providerRecords.model} = 'Grant' and ${providerRecords.id} in (${grants}))`)
    .returning({ id: providerRecords.id });
  return rows.length;
}
