import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildTestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';

/**
 * The hot paths must stay index lookups as the table grows (issue #5: profile p99 with 1 M users within
 * 1.2× of 10 k). With planner statistics from a populated table, the plans must use our indexes.
 */
for (const kind of await databaseKinds()) {
  describe(`query plans on ${kind}`, () => {
    test('login, profile and refresh lookups use indexes, not sequential scans', async (t) => {
      const ctx = await buildTestApp(kind);
      t.after(() => ctx.close());
      const { db } = ctx.database.handle;
      await db.execute(sql`insert into users (username, email, hash_password)
        select 'user' || i, 'user' || i || '@example.com', 'x' from generate_series(1, 20000) as i`);
      await db.execute(sql`insert into sessions (user_id, created_at, last_used_at, expires_at)
        select id, now(), now(), now() + interval '1 day' from users`);
      await db.execute(sql`insert into refresh_tokens (session_id, token_hash, created_at, expires_at)
        select id, md5(id::text), now(), now() + interval '1 day' from sessions`);
      await db.execute(sql`analyze`);
      const plan = async (query: ReturnType<typeof sql>) => {
        const result = (await db.execute(sql`explain ${query}`)) as unknown as { rows: { 'QUERY PLAN': string }[] };
        return result.rows.map((r) => r['QUERY PLAN']).join('\n');
      };
      const login = await plan(sql`select * from users where lower(username) = lower('user77') or lower(email) = lower('user77') limit 1`);
      assert.match(login, /users_username_lower_key/);
      assert.match(login, /users_email_lower_key/);
      const profile = await plan(sql`select * from users left join sessions on sessions.id = '00000000-0000-0000-0000-000000000000' and sessions.user_id = users.id where users.id = 77 limit 1`);
      assert.doesNotMatch(profile, /Seq Scan/);
      const refresh = await plan(sql`select * from refresh_tokens where token_hash = 'abc'`);
      assert.match(refresh, /refresh_tokens_token_hash_key/);
    });
  });
}
