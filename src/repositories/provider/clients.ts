import { eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { providerClients, type ProviderClientRow } from '../../db/schema.js';

export async function insertProviderClient(db: Database, row: ProviderClientRow): Promise<void> {
  await db.insert(providerClients).values(row);
}

export async function findProviderClient(db: Database, clientId: string): Promise<ProviderClientRow | undefined> {
  const [row] = await db.select().from(providerClients).where(eq(providerClients.clientId, clientId)).limit(1);
  return row;
}

export async function listProviderClients(db: Database): Promise<ProviderClientRow[]> {
  return db.select().from(providerClients).orderBy(providerClients.createdAt, providerClients.clientId);
}

export async function updateProviderClient(
  db: Database,
  clientId: string,
  changes: Partial<Omit<ProviderClientRow, 'clientId' | 'createdAt'>>,
): Promise<ProviderClientRow | undefined> {
  const [row] = await db.update(providerClients).set(changes).where(eq(providerClients.clientId, clientId)).returning();
  return row;
}

export async function deleteProviderClient(db: Database, clientId: string): Promise<boolean> {
  const rows = await db.delete(providerClients).where(eq(providerClients.clientId, clientId)).returning({ clientId: providerClients.clientId });
  return rows.length > 0;
}
