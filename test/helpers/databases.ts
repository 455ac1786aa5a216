import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQL } from 'drizzle-orm';
import pg from 'pg';
import { openPglite, openPostgres, type Database, type DatabaseHandle } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';

export type DatabaseKind = 'pglite' | 'postgres';

/** Admin connection used to create one fresh database per test file. */
export const POSTGRES_ADMIN_URL = process.env['TEST_POSTGRES_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** TEST_POSTGRES=off, honoured outside CI only. */
export function postgresTestsOff(): boolean {
  return process.env['TEST_POSTGRES'] === 'off' && process.env['CI'] !== 'true';
}

/**
 * PGlite always; PostgreSQL whenever it answers, and always in CI (where its absence is a failure, not
 * a reason to skip). Set TEST_POSTGRES=off to run PGlite only on a machine without PostgreSQL.
 */
export async function databaseKinds(): Promise<DatabaseKind[]> {
  if (postgresTestsOff()) return ['pglite'];
  if (process.env['CI'] === 'true' || (await postgresReachable())) return ['pglite', 'postgres'];
  process.stderr.write(`PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL}: run with TEST_POSTGRES=off to test PGlite only.\n`);
  return ['pglite', 'postgres'];
}

function pgliteVersion(): string {
  const manifest = new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/**
 * The committed migrations, hashed: a template made from other migrations (another branch's checkout on
 * the same machine, or yesterday's) is never used.
 */
const MIGRATIONS_KEY = (() => {
  const folder = new URL('../../src/db/migrations/', import.meta.url);
  const hash = createHash('sha256');
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())) {
    const file = join(entry.parentPath, entry.name);
    hash.update(file.slice(folder.pathname.length)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 12);
})();

/** Builds `target` once (in a directory of its own, then renamed: other test processes may race us). */
async function buildDirectoryOnce(target: string, fill: (dir: string) => Promise<void>): Promise<string> {
  if (existsSync(join(target, 'pgdata', 'PG_VERSION'))) return target;
  const building = mkdtempSync(`${target}-building-`);
  try {
    await fill(building);
    renameSync(building, target);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(join(target, 'pgdata', 'PG_VERSION'))) throw error;
  }
  return target;
}

/** `initdb` costs PGlite seconds; do it once per machine and PGlite version, then copy the directory. */
function ensurePgliteTemplate(): Promise<string> {
  return buildDirectoryOnce(join(tmpdir(), `user-services-pglite-template-${pgliteVersion()}`), async (dir) => {
    const handle = await openPglite(dir);
    await handle.close();
  });
}

/** The same, migrated: migrations cost each test ~0.3 s on PGlite; copying their result costs nothing more. */
function ensureMigratedPgliteTemplate(): Promise<string> {
  const target = join(tmpdir(), `user-services-pglite-migrated-${pgliteVersion()}-${MIGRATIONS_KEY}`);
  return buildDirectoryOnce(target, async (dir) => {
    cpSync(await ensurePgliteTemplate(), dir, { recursive: true });
    const handle = await openPglite(dir);
    try {
      await migrate(handle);
    } finally {
      await handle.close();
    }
  });
}

/** Arbitrary constant: one test process at a time builds the PostgreSQL template. */
const TEMPLATE_LOCK_ID = 7_446_022;

/**
 * A migrated PostgreSQL database kept as a template (`datistemplate`), made once per set of migrations;
 * each test's database is then `CREATE DATABASE … TEMPLATE` of it (a file copy in the server, no SQL run).
 */
async function ensurePostgresTemplate(): Promise<string> {
  const name = `us_template_${MIGRATIONS_KEY}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    const ready = async () => (await admin.query('select 1 from pg_database where datname = $1 and datistemplate', [name])).rowCount === 1;
    if (await ready()) return name;
    await admin.query('select pg_advisory_lock($1)', [TEMPLATE_LOCK_ID]);
    try {
      if (await ready()) return name;
      // A half-built one (a process killed while migrating) is made again.
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.query(`create database ${name}`);
      const url = new URL(POSTGRES_ADMIN_URL);
      url.pathname = `/${name}`;
      const handle = await openPostgres(url.toString(), 1);
      try {
        await migrate(handle);
      } finally {
        await handle.close();
      }
      await admin.query(`alter database ${name} is_template true`);
      return name;
    } finally {
      await admin.query('select pg_advisory_unlock($1)', [TEMPLATE_LOCK_ID]);
    }
  } finally {
    await admin.end();
  }
}

export interface TestDatabase {
  kind: DatabaseKind;
  handle: DatabaseHandle;
  /** For PostgreSQL, the URL of this test's own database (for child processes). */
  url?: string;
  /** For PGlite, the data directory. */
  dataDir?: string;
  destroy(): Promise<void>;
}

/** A fresh, empty (unmigrated) database of the given kind. */
export function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  return kind === 'pglite' ? pgliteFrom(ensurePgliteTemplate()) : postgresFrom(undefined);
}

/**
 * A fresh database of the given kind with every migration applied: a copy of a migrated template, so the
 * same state as `createTestDatabase` followed by `migrate`, without running the migrations again.
 */
export function createMigratedTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  return kind === 'pglite' ? pgliteFrom(ensureMigratedPgliteTemplate()) : postgresFrom(ensurePostgresTemplate());
}

async function pgliteFrom(template: Promise<string>): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-test-'));
  cpSync(await template, dataDir, { recursive: true });
  const handle = await openPglite(dataDir);
  return {
    kind: 'pglite',
    handle,
    dataDir,
    async destroy() {
      await handle.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function postgresFrom(template: Promise<string> | undefined): Promise<TestDatabase> {
  const name = `us_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const templateName = await template;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}${templateName === undefined ? '' : ` template ${templateName}`}`);
  await admin.end();
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  const handle = await openPostgres(url.toString(), 10);
  return {
    kind: 'postgres',
    handle,
    url: url.toString(),
    async destroy() {
      await handle.close();
      const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** The rows of a raw query, for tests that look at the database directly (both drivers answer `{ rows }`). */
export async function selectRows<T>(db: Database, statement: SQL): Promise<T[]> {
  return ((await db.execute(statement)) as unknown as { rows: T[] }).rows;
}
