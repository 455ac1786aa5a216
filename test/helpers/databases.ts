import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQL } from 'drizzle-orm';
import pg from 'pg';
import { openPglite, openPostgres, type Database, type DatabaseHandle } from '../../src/db/client.js';

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

/** `initdb` costs PGlite seconds; do it once per machine and PGlite version, then copy the directory. */
function pgliteTemplate(): string {
  const manifest = new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url);
  const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  const template = join(tmpdir(), `user-services-pglite-template-${version}`);
  return template;
}

async function ensurePgliteTemplate(): Promise<string> {
  const template = pgliteTemplate();
  if (existsSync(join(template, 'pgdata', 'PG_VERSION'))) return template;
  const building = mkdtempSync(`${template}-building-`);
  const handle = await openPglite(building);
  await handle.close();
  try {
    renameSync(building, template);
  } catch {
    rmSync(building, { recursive: true, force: true });
  }
  return template;
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
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const dataDir = mkdtempSync(join(tmpdir(), 'user-services-test-'));
    cpSync(await ensurePgliteTemplate(), dataDir, { recursive: true });
    const handle = await openPglite(dataDir);
    return {
      kind,
      handle,
      dataDir,
      async destroy() {
        await handle.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `us_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  const handle = await openPostgres(url.toString(), 10);
  return {
    kind,
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
