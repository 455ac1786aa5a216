import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { MigrationConflictError } from '../../src/errors.js';
import { TEST_SECRET_KEY } from '../helpers/app.js';
import { createTestDatabase, databaseKinds } from '../helpers/databases.js';
import { bearer, form } from '../helpers/requests.js';

/** What SQLModel's `create_all` makes of the Python service's `Users` model. */
async function createSeedTable(db: Database): Promise<void> {
  await db.execute(sql`create table users (
    id serial not null, username varchar not null, email varchar not null, hash_password varchar not null,
    primary key (id))`);
}

/** passlib's bcrypt hash of "secret123", cost 12, as the Python service stored it. */
const PASSLIB_HASH = '$2b$12$BilYj29VSKT3TnuOe.D0RuRg39HVTn1SkBTjrZfP4T58BTl9SpOgq';

async function snapshot(db: Database) {
  const columns = (await db.execute(
    sql`select column_name from information_schema.columns where table_name = 'users' order by column_name`,
  )) as unknown as { rows: { column_name: string }[] };
  const rows = (await db.execute(sql`select * from users order by id`)) as unknown as { rows: unknown[] };
  const tables = (await db.execute(
    sql`select table_schema || '.' || table_name as t from information_schema.tables
        where table_schema not in ('pg_catalog', 'information_schema') order by 1`,
  )) as unknown as { rows: { t: string }[] };
  return { columns: columns.rows.map((c) => c.column_name), rows: rows.rows, tables: tables.rows.map((t) => t.t) };
}

for (const kind of await databaseKinds()) {
  describe(`adopting the Python service's database on ${kind}`, () => {
    test('keeps every row; the seed user logs in with the passlib hash; ids continue', async (t) => {
      const database = await createTestDatabase(kind);
      t.after(() => database.destroy());
      const { db } = database.handle;
      await createSeedTable(db);
      await db.execute(sql`insert into users (username, email, hash_password) values
        ('testuser', 'test@example.com', ${PASSLIB_HASH}), ('other', 'other@example.com', ${PASSLIB_HASH})`);

      await migrate(database.handle);
      await migrate(database.handle);
      const after = await snapshot(db);
      assert.equal(after.rows.length, 2);
      assert.ok(after.columns.includes('is_active') && after.columns.includes('created_at'));

      const app = await buildApp({ config: loadConfig({ BCRYPT_ROUNDS: '4' }), db, secretKey: TEST_SECRET_KEY });
      t.after(() => app.close());
      const token = await app.inject({ method: 'POST', url: '/user/token', ...form({ username: 'testuser', password: 'secret123' }) });
      assert.equal(token.statusCode, 200, token.body);
      const profile = await app.inject({ url: '/user/user', headers: bearer(token.json().access_token) });
      assert.deepEqual(profile.json(), { username: 'testuser', email: 'test@example.com', id: 1, email_verified: false, mfa_enabled: false });

      const created = await app.inject({
        method: 'POST',
        url: '/user/register',
        ...form({ username: 'newcomer', email: 'new@example.com', password: 'password-1' }),
      });
      assert.equal(created.json().id, 3);
      const dup = await app.inject({
        method: 'POST',
        url: '/user/register',
        ...form({ username: 'TESTUSER', email: 'x@example.com', password: 'password-1' }),
      });
      assert.equal(dup.statusCode, 409);
    });

    test('rows that collide ignoring case stop the migration, listed, with nothing changed', async (t) => {
      const database = await createTestDatabase(kind);
      t.after(() => database.destroy());
      const { db } = database.handle;
      await createSeedTable(db);
      await db.execute(sql`insert into users (username, email, hash_password) values
        ('Alice', 'alice@example.com', 'x'), ('alice', 'alice2@example.com', 'x'),
        ('bob', 'Bob@Example.com', 'x'), ('robert', 'bob@example.com', 'x'), ('carol', 'carol@example.com', 'x')`);
      const before = await snapshot(db);

      await assert.rejects(migrate(database.handle), (error: unknown) => {
        assert.ok(error instanceof MigrationConflictError);
        assert.match(error.message, /username "alice": "Alice", "alice"/);
        assert.match(error.message, /email "bob@example.com": "Bob@Example.com", "bob@example.com"/);
        assert.doesNotMatch(error.message, /carol/);
        return true;
      });
      assert.deepEqual(await snapshot(db), before);
    });
  });
}
