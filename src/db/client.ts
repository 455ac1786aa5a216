import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { StartupError } from '../errors.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { initialisePgliteDirectory } from './pglite-initdb.js';
import * as schema from './schema.js';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DatabaseHandle {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Database;
  /** Runs `fn` with exclusive use of one connection (for migrations under an advisory lock). */
  withConnection<T>(fn: (db: Database) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * PostgreSQL's buffer cache inside PGlite. Its default, 128 MB (written by initdb into postgresql.conf),
 * is touched in full at start inside the WebAssembly memory: it was most of the embedded service's
 * resident memory (an opened PGlite alone: ~310 MB with it, ~160 MB with 16 MB; with Liftoff-only
 * WebAssembly, bin/user-services.js: ~145 MB with 16 MB, ~130 MB with 8 MB, issue 22). The tables of an
 * embedded deployment fit (10,000 users and their sessions are ~4 MB), and the files under it are in the
 * OS page cache anyway (PGlite reads them through node:fs). A start parameter, so existing data
 * directories are opened unchanged (docs/PERFORMANCE.md).
 */
export const PGLITE_SHARED_BUFFERS = '8MB';

/**
 * PGlite is one in-process connection: every query is already exclusive. Its module (PostgreSQL compiled to
 * WebAssembly) is loaded only when used: a service on PostgreSQL never pays its ~35 MB.
 */
export async function openPglite(dataDir: string | undefined): Promise<DatabaseHandle> {
  let path: string | undefined;
  let lock: DataDirLock | undefined;
  if (dataDir !== undefined) {
    mkdirSync(dataDir, { recursive: true });
    lock = lockDataDir(dataDir);
    path = join(dataDir, 'pgdata');
  }
  try {
    const [{ PGlite }, { drizzle: drizzlePglite }] = await Promise.all([import('@electric-sql/pglite'), import('drizzle-orm/pglite')]);
    const startParams = [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`];
    if (path !== undefined) await initialisePgliteDirectory(path, startParams);
    const client = await PGlite.create(path, { startParams });
    const db = drizzlePglite(client, { schema }) as unknown as Database;
    return {
      kind: 'pglite',
      db,
      withConnection: (fn) => fn(db),
      async close() {
        await client.close();
        lock?.release();
      },
    };
  } catch (error) {
    lock?.release();
    throw error;
  }
}

/**
 * Connections per process. More than the cores, because a connection also waits (commit flushes, the
 * network) without using a core: on 2 cores, 4 connections served the refresh grant (a transaction per
 * request) about 20% slower than 10, and the profile lookups no faster (docs/PERFORMANCE.md).
 */
export function defaultPoolSize(): number {
  return 10;
}

/** `host:port/database` of a connection URL: enough to find the server, never the password. */
function describeDatabaseUrl(url: string): string {
  try {
    const { hostname, port, pathname } = new URL(url);
    return `${hostname}:${port || '5432'}${pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

/** The database is down, unknown, or refuses us: reported at start-up in one line. */
export class DatabaseUnreachableError extends StartupError {
  constructor(url: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message || (cause as NodeJS.ErrnoException).code : String(cause);
    super(`Cannot connect to the database at ${describeDatabaseUrl(url)}: ${reason}. Check DATABASE_URL and that PostgreSQL is running.`, { cause });
    this.name = 'DatabaseUnreachableError';
  }
}

/** How long a request waits for a connection (a new one, or a free one of the pool) before it fails. */
const CONNECTION_TIMEOUT_MS = 10_000;

export async function openPostgres(url: string, poolSize = defaultPoolSize()): Promise<DatabaseHandle> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: CONNECTION_TIMEOUT_MS });
  // An idle client that loses its server emits 'error'; without a listener that would crash the process.
  pool.on('error', () => {});
  // So does a client checked out of the pool between two queries (inside a transaction, say) when its
  // server goes away — the pool listens only to idle clients. Its next query fails instead (answered 503,
  // db/unavailable.ts), and the pool drops it when it is released. Found by test/e2e/faults.test.ts: a
  // PostgreSQL restart killed instances.
  pool.on('connect', (client) => client.on('error', () => {}));
  try {
    // Fails now, with a message naming the server, rather than on the first request.
    await pool.query('select 1');
  } catch (error) {
    await pool.end();
    throw new DatabaseUnreachableError(url, error);
  }
  const db = drizzlePg(pool, { schema }) as unknown as Database;
  return {
    kind: 'postgres',
    db,
    async withConnection(fn) {
      const client = await pool.connect();
      try {
        return await fn(drizzlePg(client, { schema }) as unknown as Database);
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

export function openDatabase(databaseUrl: string | undefined, dataDir: string): Promise<DatabaseHandle> {
  return databaseUrl === undefined ? openPglite(dataDir) : openPostgres(databaseUrl);
}
