import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql, type SQLWrapper } from 'drizzle-orm';
import { createTestDatabase, databaseKinds, selectRows } from '../helpers/databases.js';
import { migrate } from '../../src/db/migrate.js';
import { activeAdminsQuery, activeSessionCountQuery, userListQuery } from '../../src/repositories/admin-users.js';
import { userAuditEventsQuery } from '../../src/repositories/audit-events.js';

const USERS = 1_000_000;

/**
 * Issue 13: the admin API must stay fast on a million users. With planner statistics from a populated
 * PostgreSQL table, every admin query must be an index lookup, never a scan of `users` (the plan is what
 * we check, not a time: the machine is shared). PostgreSQL only: PGlite is one process for tests and
 * development, and its planner is the same code.
 */
if ((await databaseKinds()).includes('postgres')) {
  describe('admin query plans on postgres', () => {
    test(`the admin list, search, filters, admins, sessions and events use indexes with ${USERS} users`, async (t) => {
      const database = await createTestDatabase('postgres');
      t.after(() => database.destroy());
      await migrate(database.handle);
      const { db } = database.handle;
      // One statement, not a million: every 1000th user disabled, every 1000th (offset 500) banned, 20 admins.
      await db.execute(sql`insert into users (username, email, hash_password, is_active, banned_until, roles)
        select 'user' || i, 'user' || i || '@example.com', 'x', i % 1000 <> 0,
               case when i % 1000 = 500 then now() + interval '1 day' end,
               case when i % 50000 = 1 then '{admin}'::text[] when i % 100 = 7 then '{support}'::text[] else '{}'::text[] end
        from generate_series(1, ${USERS}) as i`);
      await db.execute(sql`insert into sessions (user_id, created_at, last_used_at, expires_at)
        select id, now(), now(), now() + interval '1 day' from users where id % 10 = 0`);
      await db.execute(sql`insert into audit_events (occurred_at, type, user_id)
        select now(), case when i % 3 = 0 then 'login_failed' else 'login_succeeded' end, (i % 100000) + 1
        from generate_series(1, 300000) as i`);
      await db.execute(sql`analyze`);

      const plan = async (query: SQLWrapper) =>
        (await selectRows<{ 'QUERY PLAN': string }>(db, sql`explain ${query}`)).map((r) => r['QUERY PLAN']).join('\n');
      const now = new Date();
      const noSeqScan = (text: string, what: string) => assert.doesNotMatch(text, /Seq Scan/, `${what}:\n${text}`);

      const first = await plan(userListQuery(db, { limit: 51, now }));
      assert.match(first, /Index Scan using users_pkey/, first);
      const later = await plan(userListQuery(db, { limit: 51, after: 900_000, now }));
      assert.match(later, /Index Scan using users_pkey/, later);

      const search = await plan(userListQuery(db, { q: 'User12345', limit: 51, now }));
      assert.match(search, /users_username_lower_key/, search);
      assert.match(search, /users_email_lower_key/, search);
      noSeqScan(await plan(userListQuery(db, { q: 'u', limit: 51, now })), 'a prefix that matches everyone');

      const disabled = await plan(userListQuery(db, { status: 'disabled', limit: 51, now }));
      assert.match(disabled, /users_disabled_idx/, disabled);
      const banned = await plan(userListQuery(db, { status: 'banned', limit: 51, now }));
      assert.match(banned, /users_banned_idx/, banned);
      noSeqScan(await plan(userListQuery(db, { status: 'active', limit: 51, after: 500_000, now })), 'active users');
      const byRole = await plan(userListQuery(db, { role: 'admin', limit: 51, now }));
      assert.match(byRole, /users_(with_)?roles_idx/, byRole);
      noSeqScan(byRole, 'by role');

      const admins = await plan(activeAdminsQuery(db, now));
      assert.match(admins, /users_roles_idx/, admins);
      const [count] = await selectRows<{ n: number }>(db, sql`select count(*)::int as n from (${activeAdminsQuery(db, now)}) as a`);
      assert.equal(count!.n, 20);

      noSeqScan(await plan(activeSessionCountQuery(db, 4_000, now, new Date(now.getTime() - 3600_000))), 'active sessions');
      const events = await plan(userAuditEventsQuery(db, { userId: 77, type: 'login_failed', before: 250_000, limit: 51 }));
      assert.match(events, /audit_events_user_id_idx/, events);
    });
  });
}
