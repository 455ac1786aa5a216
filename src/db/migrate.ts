import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { MigrationConflictError } from '../errors.js';
import type { Database, DatabaseHandle } from './client.js';

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));

/** Arbitrary constant: serialises migrations of several instances starting at once on one PostgreSQL. */
const MIGRATION_LOCK_ID = 7_446_001;

interface Duplicate {
  column: string;
  key: string;
  values: string[];
}

async function rows<T>(db: Database, query: ReturnType<typeof sql>): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

/**
 * A database adopted from the Python service has a `users` table without uniqueness. Before our unique
 * indexes exist, list case-insensitive duplicates so start-up stops with a useful message instead of a
 * half-applied migration.
 */
async function findAdoptionConflicts(db: Database): Promise<Duplicate[]> {
  const [state] = await rows<{ has_users: boolean; has_index: boolean }>(
    db,
    sql`select to_regclass('users') is not null as has_users,
               to_regclass('users_username_lower_key') is not null as has_index`,
  );
  if (!state?.has_users || state.has_index) return [];
  const found: Duplicate[] = [];
  for (const column of ['username', 'email'] as const) {
    const dups = await rows<{ key: string; values: string[] }>(
      db,
      sql`select lower(${sql.identifier(column)}) as key,
                 array_agg(${sql.identifier(column)} order by id) as values
          from users group by 1 having count(*) > 1 order by 1`,
    );
    found.push(...dups.map((d) => ({ column, key: d.key, values: d.values })));
  }
  return found;
}

/** Applies the committed SQL migrations. Idempotent; safe to run from several instances at once. */
export async function migrate(handle: DatabaseHandle): Promise<void> {
  await handle.withConnection(async (db) => {
    if (handle.kind === 'postgres') await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK_ID})`);
    try {
      const conflicts = await findAdoptionConflicts(db);
      if (conflicts.length > 0) {
        const lines = conflicts.map((c) => `  ${c.column} "${c.key}": ${c.values.map((v) => JSON.stringify(v)).join(', ')}`);
        throw new MigrationConflictError(
          `The existing users table has rows that differ only by letter case; usernames and emails must be unique ` +
            `ignoring case. Nothing was changed. Rename or remove these rows, then start again:\n${lines.join('\n')}`,
        );
      }
      if (handle.kind === 'pglite') await migratePglite(db as unknown as PgliteDatabase, { migrationsFolder });
      else await migratePg(db as unknown as NodePgDatabase, { migrationsFolder });
    } finally {
      if (handle.kind === 'postgres') await db.execute(sql`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`);
    }
  });
}
