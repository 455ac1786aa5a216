import type { SQL } from 'drizzle-orm';
import type { Database } from '../db/client.js';

/** The rows of a raw statement (both drivers answer `{ rows }`), for what the query builder cannot say. */
export async function selectRows<T>(db: Database, statement: SQL): Promise<T[]> {
  return ((await db.execute(statement)) as unknown as { rows: T[] }).rows;
}
