import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { useTestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { bearer, form, register } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  describe(`bounded growth on ${kind} (issue 12, point 10)`, () => {
    test('a huge user agent (or forwarded address) is stored truncated in security events, as in sessions', async (t) => {
      const ctx = await useTestApp(t, kind, { TRUST_PROXY: 'true' });
      const user = await register(ctx.app);
      const headers = { ...form({}).headers, 'user-agent': 'x'.repeat(15_000), 'x-forwarded-for': 'y'.repeat(5000) };
      const attempt = (password: string) =>
        ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password }), headers });
      assert.equal((await attempt('wrong-password')).statusCode, 401);
      assert.equal((await attempt(user.password)).statusCode, 200);
      const rows = await selectRows<{ type: string; n: number }>(
        ctx.database.handle.db,
        sql`select type, length(user_agent)::int as n, length(ip)::int as ip from audit_events
            union all select 'session', length(user_agent)::int, length(ip)::int from sessions order by 1`,
      );
      assert.deepEqual(rows, [
        { type: 'login_failed', n: 512, ip: 45 },
        { type: 'login_succeeded', n: 512, ip: 45 },
        { type: 'session', n: 512, ip: 45 },
      ]);
    });

    test('MAX_SESSIONS_PER_USER caps open sessions: a new login ends the least recently used one', async (t) => {
      const ctx = await useTestApp(t, kind, { MAX_SESSIONS_PER_USER: '3' });
      const user = await register(ctx.app);
      const logIn = async () => {
        ctx.clock.advance(1000);
        const res = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) });
        assert.equal(res.statusCode, 200);
        return res.json() as { access_token: string; refresh_token: string };
      };
      const refresh = (token: string) => ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: token }) });
      const profile = async (token: string) => (await ctx.app.inject({ url: '/user/user', headers: bearer(token) })).statusCode;
      const first = await logIn();
      const second = await logIn();
      await logIn();
      ctx.clock.advance(1000);
      const firstRefreshed = await refresh(first.refresh_token);
      assert.equal(firstRefreshed.statusCode, 200, 'the first session is now the most recently used');
      const fourth = await logIn();
      assert.equal((await refresh(second.refresh_token)).statusCode, 401, 'the least recently used session ended');
      assert.equal(await profile(second.access_token), 401);
      assert.equal(await profile(firstRefreshed.json().access_token), 200);
      assert.equal(await profile(fourth.access_token), 200);
      const listed = await ctx.app.inject({ url: '/user/sessions', headers: bearer(fourth.access_token) });
      assert.equal(listed.json().length, 3);
      const reasons = await selectRows(ctx.database.handle.db, sql`select revoked_reason from sessions where revoked_at is not null`);
      assert.deepEqual(reasons, [{ revoked_reason: 'session_limit' }]);
    });
  });
}
