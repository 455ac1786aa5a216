import { createHash } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

/** Runs one statement; the seeding below only needs this, so PostgreSQL and PGlite share it. */
export type Execute = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

export interface SqlConnection {
  execute: Execute;
  close(): Promise<void>;
}

export async function connectPostgres(url: string): Promise<SqlConnection> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    execute: async (sql, params) => (await client.query(sql, params)).rows,
    close: () => client.end(),
  };
}

/** The service must not be running on `dataDir`: PGlite belongs to one process. */
export async function connectPglite(dataDir: string): Promise<SqlConnection> {
  const db = await PGlite.create(`${dataDir}/pgdata`);
  return {
    execute: async (sql, params) => (await db.query<Record<string, unknown>>(sql, params)).rows,
    close: () => db.close(),
  };
}

export interface FreshDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A new, empty database on the server of `adminUrl`, named so leftovers are recognisable. */
export async function createFreshDatabase(adminUrl: string): Promise<FreshDatabase> {
  const name = `user_services_bench_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`;
  const admin = await connectPostgres(adminUrl);
  try {
    await admin.execute(`create database ${name}`);
  } finally {
    await admin.close();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const again = await connectPostgres(adminUrl);
      try {
        await again.execute(`drop database if exists ${name} with (force)`);
      } finally {
        await again.close();
      }
    },
  };
}

/** Seeded user `i` (1-based): its id is `i`, its login `bench<i>`; its session id is derived the same way in SQL. */
export const seededUsername = (i: number) => `bench${i}`;
export const seededSessionId = (i: number) => {
  const hex = createHash('md5').update(`bench-session-${i}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};
/** The seeded refresh token of user `i`'s session, as a client would hold it (43 base64url characters). */
export const seededRefreshToken = (i: number) => createHash('sha256').update(`bench-refresh-${i}`).digest('base64url');

const CHUNK = 250_000;

/**
 * Bulk seeding, entirely inside the database (INSERT … SELECT over generate_series, one statement per
 * 250 k rows): users `from..to` sharing one pre-computed password hash, and one open session each.
 */
export async function seedUsers(
  execute: Execute,
  range: { from: number; to: number },
  passwordHash: string,
  /** Registrations during the run get ids above this, so a later seed of more users never collides. */
  reserveIds: number,
  progress: (done: number) => void = () => {},
): Promise<void> {
  for (let start = range.from; start <= range.to; start += CHUNK) {
    const end = Math.min(range.to, start + CHUNK - 1);
    await execute(
      `insert into users (id, username, email, hash_password)
       select i, 'bench' || i, 'bench' || i || '@example.com', $1 from generate_series($2::int, $3::int) as i`,
      [passwordHash, start, end],
    );
    await execute(
      `insert into sessions (id, user_id, created_at, last_used_at, expires_at)
       select md5('bench-session-' || i)::uuid, i, now(), now(), now() + interval '30 days'
       from generate_series($1::int, $2::int) as i`,
      [start, end],
    );
    progress(end - range.from + 1);
  }
  await execute(`select setval(pg_get_serial_sequence('users', 'id'), greatest($1::int, (select max(id) from users)))`, [reserveIds]);
}

/** One refresh token for each of the sessions of users 1..count, hashed as the service stores them. */
export async function seedRefreshTokens(execute: Execute, count: number): Promise<void> {
  await execute(
    `insert into refresh_tokens (session_id, token_hash, created_at, expires_at)
     select md5('bench-session-' || i)::uuid,
            encode(sha256(convert_to(translate(rtrim(encode(sha256(convert_to('bench-refresh-' || i, 'UTF8')), 'base64'), '='), '+/', '-_'), 'UTF8')), 'hex'),
            now(), now() + interval '7 days'
     from generate_series(1, $1::int) as i`,
    [count],
  );
}

/**
 * Leaves the database as a long-running one would be after the load: statistics fresh, visibility maps
 * set, and the bulk-loaded pages written out. Without the checkpoint, PostgreSQL writes them during the
 * next measurement, on the same cores.
 */
export async function analyze(execute: Execute): Promise<void> {
  await execute('vacuum analyze');
  await execute('checkpoint');
}
