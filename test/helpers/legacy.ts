import { sql } from 'drizzle-orm';
import { SignJWT } from 'jose';
import type { Database } from '../../src/db/client.js';
import { TEST_SECRET_KEY } from './app.js';
import { selectRows } from './databases.js';
import { uniqueName } from './requests.js';

/** A user row written as the Python service wrote it: only its columns (so no `tokens_valid_after`). */
export async function insertLegacyUser(db: Database, username = uniqueName('legacy')): Promise<{ id: number; username: string }> {
  const [row] = await selectRows<{ id: number }>(
    db,
    sql`insert into users (username, email, hash_password) values (${username}, ${`${username}@example.com`}, 'not-a-hash') returning id`,
  );
  return { id: row!.id, username };
}

/** A token made the way the Python service makes them: python-jose, HS256, only `sub` and `exp`. */
export function pythonStyleToken(now: Date, sub: string, expiresInSeconds = 1800): Promise<string> {
  return new SignJWT({ sub, exp: Math.floor(now.getTime() / 1000) + expiresInSeconds })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(TEST_SECRET_KEY));
}
